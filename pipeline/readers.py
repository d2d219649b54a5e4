"""Read a table file (CSV, Excel .xlsx or Parquet) into a raw DataFrame of source columns.

The format is decided by the file's first bytes, not its name; the delimiter of a text file is
the one of ``, ; tab |`` that the header line holds most of. Every problem here is file-level
and raises :class:`~pipeline.errors.IngestError` with one line naming the file:

* Encoding: the one given, else UTF-8 (UTF-16 and UTF-8 with a byte-order mark are recognised).
  A file that is not valid UTF-8 is read as latin-1 only when none of its bytes above 127 forms
  a UTF-8 character (a legacy single-byte export such as the latin-1 ``Ecommerce.csv``);
  otherwise the error names the lines holding the invalid bytes, so one stray byte never turns
  every ``É`` of a UTF-8 file into ``Ã\x89``.
* Quotes: a value running over several lines is taken for a quote left open, never guessed past:
  the file is refused with the line where that value opens (a line break inside a quoted value
  is not supported in CSV; .xlsx and Parquet may hold them).
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import IngestError

_PARQUET_MAGIC = b"PAR1"
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"
_DELIMITERS = (",", ";", "\t", "|")
_ESCAPED = re.compile("[\udc80-\udcff]")  # bytes that are not UTF-8, kept by surrogateescape
_NON_ASCII = re.compile("[^\x00-\x7f\udc80-\udcff]")  # a character UTF-8 did decode
_BLOCK = 1 << 24  # bytes decoded at a time when a text file is checked


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


def read_pieces(
    path: Path, encoding: str | None, rows: int
) -> tuple[Iterator[pd.DataFrame], str | None]:
    """:func:`read_table` in pieces: a Parquet or CSV file ``rows`` rows at a time, so that
    its size does not bound memory; an Excel file whole (one piece: a workbook is unzipped
    whole by openpyxl anyway). A CSV file's encoding is decided before its first piece (a
    guessed UTF-8 by one pass over its bytes)."""
    if path.is_file():
        with path.open("rb") as handle:
            head = handle.read(65536)
        if head.startswith(_PARQUET_MAGIC):
            return _parquet_pieces(path, rows), None
        if head.strip() and not head.startswith((_ZIP_MAGIC, _OLE_MAGIC)):
            return _text_pieces(path, head, encoding, rows)
    frame, used = read_table(path, encoding)
    return iter([frame]), used


def _text_pieces(
    path: Path, head: bytes, encoding: str | None, rows: int
) -> tuple[Iterator[pd.DataFrame], str]:
    chosen = _text_encoding(path, head, encoding)
    enc = chosen or "utf-8"
    if chosen is None and not _decodes(path, enc):
        enc = _undecodable(path, enc, guessing=True)
    return _csv_pieces(path, head, enc, rows), enc


def _decodes(path: Path, enc: str) -> bool:
    decoder = codecs.getincrementaldecoder(enc)()
    try:
        with path.open("rb") as handle:
            while block := handle.read(_BLOCK):
                decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _csv_pieces(path: Path, head: bytes, enc: str, rows: int) -> Iterator[pd.DataFrame]:
    """The file's rows ``rows`` at a time, each piece refused as :func:`_read_csv` and
    :func:`_refuse_multiline_fields` refuse the whole file."""
    try:
        with _read_csv(path, head, enc, chunksize=rows) as reader:
            for frame in reader:
                _refuse_multiline_fields(path, frame, enc)
                yield frame
    except UnicodeDecodeError:
        _undecodable(path, enc, guessing=False)  # raises IngestError
        raise
    except pd.errors.ParserError as exc:
        raise _parser_error(path, enc, exc) from exc


def _parquet_pieces(path: Path, rows: int) -> Iterator[pd.DataFrame]:
    try:
        # no pre-buffering: its read cache keeps every row group's bytes read so far, so
        # memory grew with the file (about the compressed file's size)
        parquet = pq.ParquetFile(path, pre_buffer=False)
        schema = parquet.schema_arrow
        empty = True
        for batch in parquet.iter_batches(batch_size=rows):
            empty = False
            yield pa.Table.from_batches([batch], schema=schema).to_pandas()
        if empty:
            yield schema.empty_table().to_pandas()
    except Exception as exc:  # pyarrow raises several unrelated types for a broken file
        raise IngestError(f"{path}: not a readable Parquet table ({_first_line(exc)})") from exc


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


def _text_encoding(path: Path, head: bytes, encoding: str | None) -> str | None:
    """The encoding to read with; None: UTF-8, or latin-1 if the file proves to be latin-1."""
    if encoding is not None:
        return encoding
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if b"\x00" in head:
        raise IngestError(f"{path}: not a table (binary content, not CSV, .xlsx or Parquet)")
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    return None


def _read_text(path: Path, head: bytes, encoding: str | None) -> tuple[pd.DataFrame, str]:
    chosen = _text_encoding(path, head, encoding)
    try:
        frame = _read_csv(path, head, chosen or "utf-8")
        enc = chosen or "utf-8"
    except UnicodeDecodeError:
        enc = _undecodable(path, chosen or "utf-8", guessing=chosen is None)
        frame = _read_csv(path, head, enc)
    _refuse_multiline_fields(path, frame, enc)
    return frame, enc


def _read_csv(path: Path, head: bytes, enc: str, chunksize: int | None = None):
    """The file as text columns (a reader of pieces with ``chunksize``); UnicodeDecodeError
    passes through to the caller."""
    try:
        sep = _sniff_delimiter(head.decode(enc, errors="replace"))
        return pd.read_csv(
            path, sep=sep, dtype=str, keep_default_na=False, na_values=[""],
            encoding=enc, skipinitialspace=False, chunksize=chunksize,
        )
    except LookupError as exc:
        raise IngestError(f"{path}: unknown encoding {enc!r}") from exc
    except pd.errors.EmptyDataError as exc:
        raise IngestError(f"{path}: the file is empty") from exc
    except pd.errors.ParserError as exc:
        raise _parser_error(path, enc, exc) from exc


def _parser_error(path: Path, enc: str, exc: pd.errors.ParserError) -> IngestError:
    if "EOF inside string" in str(exc):
        return IngestError(f"{path}: {_broken_quote(_multiline_record_line(path, enc))}")
    return IngestError(f"{path}: not a table ({_first_line(exc)})")


def _undecodable(path: Path, enc: str, *, guessing: bool) -> str:
    """latin-1 when a guessed UTF-8 failed on a file with no UTF-8 at all; else IngestError.

    A file whose bytes above 127 never form a UTF-8 character is a legacy single-byte export
    (the latin-1 ``Ecommerce.csv``); a file mixing UTF-8 characters with bytes that are not is
    UTF-8 with damage, and re-reading all of it as latin-1 would garble every accented letter.
    """
    hint = (
        "if the file is in another encoding, give it (for example --encoding latin-1)"
        if guessing
        else "wrong encoding? try latin-1 or leave the encoding unset"
    )
    try:
        lines, byte, non_ascii = _bad_lines(path, enc)
    except UnicodeDecodeError as exc:  # codecs other than UTF-8 cannot keep the bad bytes
        data = path.read_bytes()  # this error's line only, for such a codec
        line = data[: exc.start].decode(enc, errors="replace").count("\n") + 1
        raise IngestError(
            f"{path}: cannot be decoded as {enc} (byte {exc.start}, line {line}); {hint}"
        ) from exc
    if guessing and lines and not non_ascii:
        return "latin-1"
    shown = ", ".join(map(str, lines[:5])) + (", ..." if len(lines) > 5 else "")
    raise IngestError(
        f"{path}: cannot be decoded as {enc} (byte 0x{byte:02x} on line(s) {shown}); {hint}"
    )


def _bad_lines(path: Path, enc: str) -> tuple[list[int], int, bool]:
    """The first lines (up to six) holding bytes ``enc`` cannot decode, the first such byte,
    and whether any character above ASCII did decode; read in blocks, not whole."""
    decoder = codecs.getincrementaldecoder(enc)(errors="surrogateescape")
    lines: list[int] = []
    byte, line, non_ascii = 0, 1, False
    with path.open("rb") as handle:
        while True:
            block = handle.read(_BLOCK)
            text = decoder.decode(block, final=not block)
            non_ascii = non_ascii or _NON_ASCII.search(text) is not None
            previous = 0
            for match in _ESCAPED.finditer(text) if len(lines) <= 5 else ():
                if not lines:
                    byte = ord(match.group()) - 0xDC00
                line += text.count("\n", previous, match.start())
                previous = match.start()
                if not lines or lines[-1] != line:
                    lines.append(line)
                if len(lines) > 5:
                    break
            line += text.count("\n", previous)
            if not block or (non_ascii and len(lines) > 5):
                return lines, byte, non_ascii


def _refuse_multiline_fields(path: Path, frame: pd.DataFrame, enc: str) -> None:
    """A value holding a line break is almost always a quote left open: refuse the file.

    Guessing where the quoted value should have ended could merge or drop lines silently, so
    the file is refused with the line where the quoted value opens.
    """
    texts = [str(c) for c in frame.columns] + [
        frame[c] for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])
    ]
    if any(
        ("\n" in t or "\r" in t) if isinstance(t, str)
        else bool(t.str.contains(r"[\r\n]", regex=True, na=False).any())
        for t in texts
    ):
        raise IngestError(f"{path}: {_broken_quote(_multiline_record_line(path, enc))}")


def _multiline_record_line(path: Path, enc: str) -> int | None:
    """The line where the first record running over several lines begins (1-based)."""
    with path.open(encoding=enc, newline="") as handle:
        sep = _sniff_delimiter(handle.readline())
        handle.seek(0)
        reader = csv.reader(handle, delimiter=sep, strict=False)
        start = 1
        try:
            for record in reader:
                if any("\n" in v or "\r" in v for v in record):
                    return start
                start = reader.line_num + 1
        except csv.Error:
            return start
    return None


def _broken_quote(line: int | None) -> str:
    where = f"line {line}" if line is not None else "a line"
    return (
        f"{where} opens a quoted value that runs on over the following lines "
        "(a missing or stray quote?); fix the quote and load the file again"
    )


def _sniff_delimiter(text: str) -> str:
    first_line = text.splitlines()[0] if text else ""
    counts = {sep: first_line.count(sep) for sep in _DELIMITERS}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] > 0 else ","


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
