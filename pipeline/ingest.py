"""Read a retailer's transactions from CSV, Excel (.xlsx) or Parquet into canonical columns.

Two kinds of problems are kept apart:

* File-level problems (missing file, not a table, empty, a required column missing, a file that
  cannot be decoded with the requested encoding) raise :class:`~pipeline.errors.IngestError` with
  one line naming the file and the problem.
* Row-level problems (unparseable date, non-numeric quantity or price, empty invoice number, ...)
  reject that row only. Every rejected row is kept in :attr:`IngestResult.rejects` with its
  position in the source (``line_no``, 0-based over data rows), a reason and its raw values, so
  ``n_accepted + n_rejected == n_rows`` always holds. The row rules are in
  :mod:`pipeline.row_rules`.

Column names are matched case- and punctuation-insensitively against the known exports (UCI
``InvoiceNo``/``UnitPrice``/``CustomerID``, the 2009-2011 ``Invoice``/``Price``/``Customer ID``
variant, the canonical names). ``column_map`` (source name -> canonical name, like
``DataFrame.rename``) covers any other export. Files are read by :mod:`pipeline.readers`, dates
parsed by :mod:`pipeline.dates`. Negative prices are accepted here: the cleaning profile decides
about them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.columns import CANONICAL_COLUMNS
from pipeline.dates import format_family, parse_dates
from pipeline.errors import IngestError
from pipeline.readers import read_pieces, read_table
from pipeline.row_rules import REJECT_REASONS, RowLimits, blank_text, row_reasons

REQUIRED_COLUMNS: tuple[str, ...] = (
    "invoice_no",
    "stock_code",
    "quantity",
    "invoice_date",
    "unit_price",
    "customer_id",
)
OPTIONAL_COLUMNS: tuple[str, ...] = ("description", "country")
DEFAULT_LIMITS = RowLimits(max_quantity=1_000_000, max_unit_price=100_000.0)
"""The bounds used when the caller gives none (the settings' defaults)."""
PIECE_ROWS = 500_000
"""Rows of a Parquet or CSV file read and validated at a time by :func:`read_transaction_pieces`."""

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
    limits: RowLimits = DEFAULT_LIMITS,
) -> IngestResult:
    """Read a CSV, .xlsx or Parquet file of transactions; raise IngestError for file-level problems.

    ``date_format`` (a strftime pattern) overrides date-format detection for text dates;
    ``limits`` bounds quantities, unit prices and text lengths (larger values reject the row).
    """
    path = Path(path)
    raw, used_encoding = read_table(path, encoding)
    result = validate_transactions(
        raw, source=str(path), column_map=column_map, date_format=date_format, limits=limits
    )
    result.encoding = used_encoding
    return result


def read_transaction_pieces(
    path: str | Path,
    *,
    column_map: dict[str, str] | None = None,
    encoding: str | None = None,
    date_format: str | None = None,
    limits: RowLimits = DEFAULT_LIMITS,
    rows: int = PIECE_ROWS,
) -> Iterator[IngestResult]:
    """:func:`read_transactions` in pieces of at most ``rows`` rows (a Parquet or CSV file;
    an Excel file is one piece), each piece's ``line_no`` counted from the file's first row.

    The first piece raises IngestError for a problem of the whole file (no rows, a column
    missing). Text dates are read with the format family that fits the first piece with an
    accepted row best, and that family holds for the rest of the file (a file of one piece
    reads as :func:`read_transactions` reads it).
    """
    path = Path(path)
    pieces, used_encoding = read_pieces(path, encoding, rows)
    first_line = 0
    dates: str | tuple[str, ...] | None = date_format
    for raw in pieces:
        if first_line and len(raw) == 0:
            continue
        result = validate_transactions(
            raw, source=str(path), column_map=column_map, date_format=dates,
            limits=limits, first_line=first_line,
        )
        result.encoding = used_encoding
        first_line += len(raw)
        if dates is None and result.date_format is not None and result.n_accepted:
            dates = format_family(result.date_format)
        yield result


def validate_transactions(
    raw: pd.DataFrame,
    *,
    source: str = "<dataframe>",
    column_map: dict[str, str] | None = None,
    date_format: str | tuple[str, ...] | None = None,
    limits: RowLimits = DEFAULT_LIMITS,
    first_line: int = 0,
) -> IngestResult:
    """Map columns, parse values and split rows into accepted and rejected (with reasons);
    ``line_no`` counts from ``first_line`` (the position of ``raw``'s first row in its file).
    ``date_format`` may be a family of formats (:func:`pipeline.dates.format_family`)."""
    if len(raw) == 0:
        raise IngestError(f"{source}: the table has a header but no rows")
    mapping = resolve_columns(list(raw.columns), column_map, source)
    ignored = [str(c) for c in raw.columns if c not in mapping]
    renamed = raw[list(mapping)].rename(columns=mapping)
    renamed.index = pd.RangeIndex(first_line, first_line + len(renamed))
    parsed, used_format = _parse_values(renamed, date_format)
    rank = row_reasons(parsed, limits)
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
    frame: pd.DataFrame, date_format: str | tuple[str, ...] | None
) -> tuple[pd.DataFrame, str | None]:
    dates, used_format, out_of_range = parse_dates(frame["invoice_date"], date_format)
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
            "date_out_of_range": out_of_range,
        }
    )
    return parsed, used_format


def _is_blank(series: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(series):
        return series.isna()
    return blank_text(series)


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
