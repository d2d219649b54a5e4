"""Read a retailer's transactions from CSV, Excel (.xlsx) or Parquet into canonical columns.

Two kinds of problems are kept apart:

* File-level problems (missing file, not a table, empty, a required column missing, a file that
  cannot be decoded with the requested encoding) raise :class:`~pipeline.errors.IngestError` with
  one line naming the file and the problem.
* Row-level problems (unparseable date, non-numeric quantity or price, empty invoice number, ...)
  reject that row only. Every rejected row is kept in :attr:`IngestResult.rejects` with its
  position in the source (``line_no``, 0-based over data rows), a reason and its raw values, so
  ``n_accepted + n_rejected == n_rows`` always holds. The row rules are a pandera schema.

Column names are matched case- and punctuation-insensitively against the known exports (UCI
``InvoiceNo``/``UnitPrice``/``CustomerID``, the 2009-2011 ``Invoice``/``Price``/``Customer ID``
variant, the canonical names). ``column_map`` (source name -> canonical name, like
``DataFrame.rename``) covers any other export. Dates are parsed with explicit formats; the format
family that parses most values wins and ties go to the earlier family, so ``12/1/2010`` is read
month-first as in the UCI ``data.csv`` export unless a value such as ``13/1/2010`` proves the file
day-first. Text files are read as UTF-8 and, when no encoding is given and UTF-8 fails, as latin-1.
Negative prices are accepted here: the cleaning profile decides about them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc

from pipeline.columns import CANONICAL_COLUMNS
from pipeline.errors import IngestError

REQUIRED_COLUMNS: tuple[str, ...] = (
    "invoice_no",
    "stock_code",
    "quantity",
    "invoice_date",
    "unit_price",
    "customer_id",
)
OPTIONAL_COLUMNS: tuple[str, ...] = ("description", "country")

# Normalised header spellings (lowercase, letters and digits only) of the exports users bring.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "invoice_no": ("invoiceno", "invoice", "invoicenumber", "invoiceid"),
    "stock_code": ("stockcode", "productcode", "sku"),
    "description": ("description", "productdescription"),
    "quantity": ("quantity", "qty"),
    "invoice_date": ("invoicedate", "invoicedatetime"),
    "unit_price": ("unitprice", "price"),
    "customer_id": ("customerid", "customerno", "customernumber"),
    "country": ("country",),
}

# Date formats grouped by family; inside a family later formats fill what earlier ones missed.
DATE_FORMAT_FAMILIES: tuple[tuple[str, ...], ...] = (
    ("ISO8601",),
    ("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y", "%m/%d/%y %H:%M", "%m/%d/%y"),
    ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y", "%d/%m/%y %H:%M", "%d/%m/%y"),
    ("%d-%b-%y", "%d-%b-%Y", "%d-%b-%y %H:%M", "%d-%b-%Y %H:%M", "%d %b %Y", "%d %b %Y %H:%M"),
    ("%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y", "%d.%m.%y"),
)
_DATE_SAMPLE = 2_000

# Row-level reasons, most important first: a row failing several rules is counted once, under
# the first.
REJECT_REASONS: tuple[str, ...] = (
    "empty_invoice_no",
    "unparseable_date",
    "non_numeric_quantity",
    "non_integer_quantity",
    "non_numeric_unit_price",
    "empty_stock_code",
    "invalid_customer_id",
)

_PARQUET_MAGIC = b"PAR1"
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"
_DELIMITERS = (",", ";", "\t", "|")


@dataclass
class IngestResult:
    """Accepted rows in canonical columns, rejected rows with reasons, and how the file was read."""

    transactions: pd.DataFrame
    rejects: pd.DataFrame
    n_rows: int
    source: str
    encoding: str | None = None
    date_format: str | None = None
    column_mapping: dict[str, str] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def rejected_by_reason(self) -> dict[str, int]:
        counts = self.rejects["reason"].value_counts()
        return {reason: int(counts[reason]) for reason in REJECT_REASONS if reason in counts}

    @property
    def n_accepted(self) -> int:
        return len(self.transactions)

    @property
    def n_rejected(self) -> int:
        return len(self.rejects)

    def summary(self) -> dict[str, Any]:
        """JSON-safe description of what was read, accepted and rejected."""
        return {
            "source": self.source,
            "n_rows": int(self.n_rows),
            "n_accepted": self.n_accepted,
            "n_rejected": self.n_rejected,
            "rejected_by_reason": self.rejected_by_reason,
            "encoding": self.encoding,
            "date_format": self.date_format,
            "column_mapping": dict(self.column_mapping),
            "ignored_columns": list(self.ignored_columns),
        }

    def write_rejects(self, path: str | Path) -> Path:
        """Write the rejected rows (line_no, reason, raw values) as CSV."""
        path = Path(path)
        self.rejects.to_csv(path, index=False)
        return path


def read_transactions(
    path: str | Path,
    *,
    column_map: dict[str, str] | None = None,
    encoding: str | None = None,
    date_format: str | None = None,
) -> IngestResult:
    """Read a CSV, .xlsx or Parquet file of transactions; raise IngestError for file-level problems.

    ``date_format`` (a strftime pattern) overrides date-format detection for text dates.
    """
    path = Path(path)
    raw, used_encoding = _read_table(path, encoding)
    result = validate_transactions(
        raw, source=str(path), column_map=column_map, date_format=date_format
    )
    result.encoding = used_encoding
    return result


def validate_transactions(
    raw: pd.DataFrame,
    *,
    source: str = "<dataframe>",
    column_map: dict[str, str] | None = None,
    date_format: str | None = None,
) -> IngestResult:
    """Map columns, parse values and split rows into accepted and rejected (with reasons)."""
    if len(raw) == 0:
        raise IngestError(f"{source}: the table has a header but no rows")
    mapping = resolve_columns(list(raw.columns), column_map, source)
    ignored = [str(c) for c in raw.columns if c not in mapping]
    renamed = raw[list(mapping)].rename(columns=mapping).reset_index(drop=True)
    parsed, used_format = _parse_values(renamed, date_format)
    rank = _row_reasons(parsed)
    bad = rank >= 0
    transactions = _canonical_frame(parsed.loc[~bad] if bad.any() else parsed)
    reasons = np.asarray(REJECT_REASONS, dtype=object)[rank[bad]]
    rejects = _rejects_frame(renamed.loc[bad], reasons)
    return IngestResult(
        transactions=transactions,
        rejects=rejects,
        n_rows=len(raw),
        source=source,
        date_format=used_format,
        column_mapping={str(k): v for k, v in mapping.items()},
        ignored_columns=ignored,
    )


# ---------------------------------------------------------------- file level


def _read_table(path: Path, encoding: str | None) -> tuple[pd.DataFrame, str | None]:
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


# ---------------------------------------------------------------- columns


def _normalise(name: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def resolve_columns(
    columns: list[Any], column_map: dict[str, str] | None, source: str
) -> dict[Any, str]:
    """Return {source column: canonical column}; raise IngestError naming what is missing."""
    mapping = _explicit_mapping(columns, column_map or {}, source)
    taken = set(mapping.values())
    by_norm: dict[str, list[Any]] = {}
    for col in columns:
        if col not in mapping:
            by_norm.setdefault(_normalise(col), []).append(col)
    for canonical, aliases in COLUMN_ALIASES.items():
        if canonical in taken:
            continue
        found = [c for alias in (_normalise(canonical), *aliases) for c in by_norm.get(alias, [])]
        found = list(dict.fromkeys(found))
        if len(found) > 1:
            raise IngestError(
                f"{source}: columns {', '.join(map(repr, found))} all look like {canonical}; "
                "choose one with a column mapping"
            )
        if found:
            mapping[found[0]] = canonical
    missing = [c for c in REQUIRED_COLUMNS if c not in mapping.values()]
    if missing:
        shown = ", ".join(repr(str(c)) for c in columns[:12])
        raise IngestError(
            f"{source}: required column(s) missing: {', '.join(missing)} (found: {shown})"
        )
    return mapping


def _explicit_mapping(
    columns: list[Any], column_map: dict[str, str], source: str
) -> dict[Any, str]:
    by_name = {str(c): c for c in columns}
    mapping: dict[Any, str] = {}
    for src, target in column_map.items():
        if target not in CANONICAL_COLUMNS:
            raise IngestError(
                f"{source}: column mapping targets unknown column {target!r} "
                f"(known: {', '.join(CANONICAL_COLUMNS)})"
            )
        if str(src) not in by_name:
            raise IngestError(f"{source}: column mapping names {src!r}, which is not in the file")
        if target in mapping.values():
            raise IngestError(f"{source}: column mapping maps two columns to {target!r}")
        mapping[by_name[str(src)]] = target
    return mapping


# ---------------------------------------------------------------- values


def _parse_values(
    frame: pd.DataFrame, date_format: str | None
) -> tuple[pd.DataFrame, str | None]:
    dates, used_format = parse_dates(frame["invoice_date"], date_format)
    customer = _to_number(frame["customer_id"])
    parsed = pd.DataFrame(
        {
            "invoice_no": _as_text(frame["invoice_no"]),
            "stock_code": _as_text(frame["stock_code"]),
            "description": _optional_text(frame, "description"),
            "quantity": _to_number(frame["quantity"]),
            "invoice_date": dates,
            "unit_price": _to_number(frame["unit_price"]),
            "customer_id": customer,
            "country": _optional_text(frame, "country"),
            "customer_id_blank": _is_blank(frame["customer_id"]),
        }
    )
    return parsed, used_format


def _is_blank(series: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(series):
        return series.isna()
    return _blank_text(series)


def _as_text(series: pd.Series) -> pd.Series:
    if series.dtype == "str":  # already pandas' text type, missing values as NaN
        return series
    if pd.api.types.is_float_dtype(series):
        integral = series.notna() & (series == np.floor(series))
        if integral[series.notna()].all():
            series = series.astype("Int64")
    text = series.astype("str")
    return text.where(series.notna())


def _optional_text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series(pd.NA, index=frame.index, dtype="str")
    return _as_text(frame[column])


def _to_number(series: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(series):
        return pd.Series(np.nan, index=series.index)
    if pd.api.types.is_numeric_dtype(series):
        return series.astype("float64")
    # Parse each distinct value once: exports repeat few distinct quantities and prices.
    codes, uniques = pd.factorize(series.astype("str"))
    text = pd.Series(uniques, dtype="str").str.strip()
    numbers = pd.to_numeric(text, errors="coerce").astype("float64")
    # Decimal comma ("2,55") from European exports; only where plain parsing failed.
    comma = numbers.isna() & text.str.fullmatch(r"-?\d+,\d+", na=False)
    if comma.any():
        numbers[comma] = pd.to_numeric(text[comma].str.replace(",", ".", regex=False))
    values = np.append(numbers.to_numpy(), np.nan)
    return pd.Series(values[codes], index=series.index, dtype="float64")


def parse_dates(series: pd.Series, date_format: str | None = None) -> tuple[pd.Series, str | None]:
    """Parse a date column; return naive datetime64[ns] (NaT where unparseable) and the format."""
    if pd.api.types.is_datetime64_any_dtype(series):
        if getattr(series.dt, "tz", None) is not None:
            series = series.dt.tz_convert(None)
        return series.astype("datetime64[ns]"), None
    text = series.astype("str").str.strip()
    codes, uniques = pd.factorize(text)
    uniques = pd.Series(uniques, dtype="str")
    if date_format is not None:
        family: tuple[str, ...] = (date_format,)
    else:
        family = _best_family(uniques)
    parsed = _parse_with(uniques, family)
    values = parsed.to_numpy()
    out = np.where(codes >= 0, values[np.maximum(codes, 0)], np.datetime64("NaT", "ns"))
    return pd.Series(out, index=series.index, dtype="datetime64[ns]"), family[0]


def _best_family(uniques: pd.Series) -> tuple[str, ...]:
    if len(uniques) > _DATE_SAMPLE:
        step = len(uniques) / _DATE_SAMPLE
        uniques = uniques.iloc[(np.arange(_DATE_SAMPLE) * step).astype(int)]
    scores = [int(_parse_with(uniques, fam).notna().sum()) for fam in DATE_FORMAT_FAMILIES]
    return DATE_FORMAT_FAMILIES[int(np.argmax(scores))]  # argmax: first family wins a tie


def _parse_with(text: pd.Series, formats: tuple[str, ...]) -> pd.Series:
    result = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    for fmt in formats:
        todo = result.isna() & text.notna()
        if not todo.any():
            break
        # utc=True: mixed UTC offsets become one naive UTC time; naive text stays as written.
        parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce", utc=True)
        result[todo] = parsed.dt.tz_convert(None).astype("datetime64[ns]")
    return result


# ---------------------------------------------------------------- row rules


def _integral(s: pd.Series) -> pd.Series:
    """Whole numbers that int64 (and float64) hold exactly."""
    return (s == np.round(s)) & (np.abs(s) < 2.0**53)


def _blank_text(s: pd.Series) -> pd.Series:
    """Missing, empty or whitespace-only text; one pass of Arrow kernels over Arrow strings."""
    try:
        arr = pyarrow.chunked_array(pyarrow.array(s))
    except (TypeError, ValueError, pyarrow.ArrowException):
        return s.isna() | (s.astype("str").str.strip() == "")
    if not pyarrow.types.is_string(arr.type) and not pyarrow.types.is_large_string(arr.type):
        return s.isna() | (s.astype("str").str.strip() == "")
    blank = pc.or_kleene(pc.utf8_is_space(arr), pc.equal(pc.utf8_length(arr), 0))
    blank = pc.fill_null(blank, True).to_numpy(zero_copy_only=False)
    return pd.Series(blank, index=s.index)


def _row_schema() -> pa.DataFrameSchema:
    """Row rules; each check's name is the reason a failing row is rejected with."""

    def rule(fn: Any, reason: str) -> pa.Check:
        return pa.Check(fn, name=reason, ignore_na=False)

    def text_present(s: pd.Series) -> pd.Series:
        return ~_blank_text(s)

    def finite(s: pd.Series) -> pd.Series:
        return pd.Series(np.isfinite(s.to_numpy()), index=s.index)

    return pa.DataFrameSchema(
        {
            "invoice_no": pa.Column(nullable=True, checks=rule(text_present, "empty_invoice_no")),
            "stock_code": pa.Column(nullable=True, checks=rule(text_present, "empty_stock_code")),
            "invoice_date": pa.Column(
                nullable=True, checks=rule(lambda s: s.notna(), "unparseable_date")
            ),
            "quantity": pa.Column(
                nullable=True,
                checks=[
                    rule(finite, "non_numeric_quantity"),
                    rule(lambda s: s.isna() | _integral(s), "non_integer_quantity"),
                ],
            ),
            "unit_price": pa.Column(nullable=True, checks=rule(finite, "non_numeric_unit_price")),
        },
        checks=rule(
            lambda df: df["customer_id_blank"]
            | (np.isfinite(df["customer_id"]) & _integral(df["customer_id"])),
            "invalid_customer_id",
        ),
    )


_ROW_SCHEMA = _row_schema()


def _row_reasons(parsed: pd.DataFrame) -> np.ndarray:
    """Per row, the position in REJECT_REASONS of its most important failure; -1 if it passes."""
    rank = np.full(len(parsed), -1, dtype="int64")
    try:
        _ROW_SCHEMA.validate(parsed, lazy=True)
    except pa.errors.SchemaErrors as exc:
        failures = exc.failure_cases
        failures = failures[failures["check"].isin(REJECT_REASONS)]
        ranks = failures["check"].map({r: i for i, r in enumerate(REJECT_REASONS)})
        first = (
            failures.assign(rank=ranks.to_numpy())
            .sort_values("rank", kind="stable")
            .drop_duplicates("index")
        )
        rank[first["index"].astype("int64").to_numpy()] = first["rank"].to_numpy()
    return rank


def _canonical_frame(parsed: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "line_no": parsed.index.to_numpy(dtype="int64"),
            "invoice_no": parsed["invoice_no"].astype("str"),
            "stock_code": parsed["stock_code"].astype("str"),
            "description": parsed["description"].astype("str"),
            "quantity": parsed["quantity"].astype("int64"),
            "invoice_date": parsed["invoice_date"].astype("datetime64[ns]"),
            "unit_price": parsed["unit_price"].astype("float64"),
            "customer_id": parsed["customer_id"].astype("Int64"),
            "country": parsed["country"].astype("str"),
        }
    )
    return out.reset_index(drop=True)


def _rejects_frame(raw: pd.DataFrame, reasons: np.ndarray) -> pd.DataFrame:
    values = {c: raw[c].astype("object") if c in raw else pd.NA for c in CANONICAL_COLUMNS}
    out = pd.DataFrame(
        {
            "line_no": raw.index.to_numpy(dtype="int64"),
            "reason": pd.array(reasons, dtype="str"),
            **values,
        }
    )
    return out.reset_index(drop=True)
