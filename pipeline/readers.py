"""Read a table file (CSV, Excel .xlsx or Parquet) into a raw DataFrame of source columns.

The format is decided by the file's first bytes, not its name. Text files are read as UTF-8
and, when no encoding is given and UTF-8 fails, as latin-1; the delimiter is the one of
``, ; tab |`` that the header line holds most of. Every problem here is file-level and raises
:class:`~pipeline.errors.IngestError` with one line naming the file.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.errors import IngestError

_PARQUET_MAGIC = b"PAR1"
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"
_DELIMITERS = (",", ";", "\t", "|")


def read_table(path: Path, encoding: str | None) -> tuple[pd.DataFrame, str | None]:
    """The file's rows as a DataFrame of source columns, and the text encoding used (if text)."""
    if not path.exists():
        raise IngestError(f"{path}: file not found")
    if path.is_dir():
        raise IngestError(f"{path}: is a directory, not a file")
    with path.open("rb") as handle:
        head = handle.read(65536)
    if not head.strip():
        raise IngestError(f"{path}: the file is empty")
    if head.startswith(_PARQUET_MAGIC):
        return _read_parquet(path), None
    if head.startswith(_ZIP_MAGIC):
        return _read_excel(path), None
    if head.startswith(_OLE_MAGIC):
        raise IngestError(f"{path}: legacy Excel .xls is not supported; save it as .xlsx or CSV")
    return _read_text(path, head, encoding)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a broken file
        raise IngestError(f"{path}: not a readable Parquet table ({_first_line(exc)})") from exc


def _read_excel(path: Path) -> pd.DataFrame:
    try:
        # As text, so Excel files go through the same parsing (and rejection) as CSV.
        return pd.read_excel(path, dtype=str, engine="openpyxl")
    except Exception as exc:  # openpyxl/zipfile raise many types for non-workbooks
        raise IngestError(f"{path}: not a readable Excel workbook ({_first_line(exc)})") from exc


def _text_encoding(path: Path, head: bytes, encoding: str | None) -> list[str]:
    if encoding is not None:
        return [encoding]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return ["utf-16"]
    if b"\x00" in head:
        raise IngestError(f"{path}: not a table (binary content, not CSV, .xlsx or Parquet)")
    if head.startswith(b"\xef\xbb\xbf"):
        return ["utf-8-sig"]
    return ["utf-8", "latin-1"]


def _read_text(path: Path, head: bytes, encoding: str | None) -> tuple[pd.DataFrame, str]:
    candidates = _text_encoding(path, head, encoding)
    for i, enc in enumerate(candidates):
        try:
            sep = _sniff_delimiter(head.decode(enc, errors="replace"))
            frame = pd.read_csv(
                path, sep=sep, dtype=str, keep_default_na=False, na_values=[""],
                encoding=enc, skipinitialspace=False,
            )
        except LookupError as exc:
            raise IngestError(f"{path}: unknown encoding {enc!r}") from exc
        except UnicodeDecodeError as exc:
            if i + 1 < len(candidates):
                continue
            raise IngestError(
                f"{path}: cannot be decoded as {enc} (byte 0x{exc.object[exc.start]:02x}); "
                "wrong encoding? try latin-1 or leave the encoding unset"
            ) from exc
        except pd.errors.EmptyDataError as exc:
            raise IngestError(f"{path}: the file is empty") from exc
        except pd.errors.ParserError as exc:
            raise IngestError(f"{path}: not a table ({_first_line(exc)})") from exc
        return frame, enc
    raise AssertionError("unreachable")  # pragma: no cover


def _sniff_delimiter(text: str) -> str:
    first_line = text.splitlines()[0] if text else ""
    counts = {sep: first_line.count(sep) for sep in _DELIMITERS}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] > 0 else ","


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
