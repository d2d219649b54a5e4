"""The row rules of ingest: which parsed rows are rejected, and for what reason.

Each rule is a vectorised test over the parsed columns, named by the reason a failing row is
rejected with; a row failing several rules is counted once, under the most important.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.compute as pc

# Row-level reasons, most important first: a row failing several rules is counted once, under
# the first.
REJECT_REASONS: tuple[str, ...] = (
    "empty_invoice_no",
    "unparseable_date",
    "date_out_of_range",
    "non_numeric_quantity",
    "non_integer_quantity",
    "quantity_out_of_range",
    "non_numeric_unit_price",
    "unit_price_out_of_range",
    "empty_stock_code",
    "invalid_customer_id",
    "invoice_no_too_long",
    "stock_code_too_long",
    "description_too_long",
    "country_too_long",
    "nul_character_in_text",
)
TEXT_COLUMNS: tuple[str, ...] = ("invoice_no", "stock_code", "description", "country")


@dataclass(frozen=True)
class RowLimits:
    """The largest values a row may hold; ``None`` is no limit.

    The caller chooses them: the store passes its column sizes, the settings the largest
    plausible quantity and unit price. Both numbers are compared in absolute value (returns and
    bad-debt adjustments are negative).
    """

    max_quantity: float | None = None
    max_unit_price: float | None = None
    max_length: tuple[tuple[str, int], ...] = ()

    def length_of(self, column: str) -> int | None:
        return dict(self.max_length).get(column)


def _integral(s: pd.Series) -> pd.Series:
    """Whole numbers that int64 (and float64) hold exactly."""
    return (s == np.round(s)) & (np.abs(s) < 2.0**53)


def blank_text(s: pd.Series) -> pd.Series:
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


def _failures(parsed: pd.DataFrame, limits: RowLimits) -> dict[str, pd.Series]:
    """Per reason, the rows failing its rule (a rule about a value skips a missing value)."""
    quantity, price = parsed["quantity"], parsed["unit_price"]
    failing = {
        "empty_invoice_no": blank_text(parsed["invoice_no"]),
        "unparseable_date": parsed["invoice_date"].isna() & ~parsed["date_out_of_range"],
        "date_out_of_range": parsed["date_out_of_range"],
        "non_numeric_quantity": ~_finite(quantity),
        "non_integer_quantity": quantity.notna() & ~_integral(quantity),
        "quantity_out_of_range": _above(quantity, limits.max_quantity),
        "non_numeric_unit_price": ~_finite(price),
        "unit_price_out_of_range": _above(price, limits.max_unit_price),
        "empty_stock_code": blank_text(parsed["stock_code"]),
        "invalid_customer_id": ~(
            parsed["customer_id_blank"]
            | (_finite(parsed["customer_id"]) & _integral(parsed["customer_id"]))
        ),
        # PostgreSQL text cannot hold the NUL character
        "nul_character_in_text": _has_nul(parsed),
    }
    for column in TEXT_COLUMNS:
        limit = limits.length_of(column)
        if limit is not None:
            failing[f"{column}_too_long"] = parsed[column].str.len() > limit
    return failing


def _finite(s: pd.Series) -> pd.Series:
    return pd.Series(np.isfinite(s.to_numpy()), index=s.index)


def _above(s: pd.Series, limit: float | None) -> pd.Series:
    if limit is None:
        return pd.Series(False, index=s.index)
    return np.abs(s) > limit  # NaN is not above: it is another rule's reason


def _has_nul(frame: pd.DataFrame) -> pd.Series:
    found = pd.Series(False, index=frame.index)
    for column in TEXT_COLUMNS:
        found |= frame[column].str.contains("\x00", regex=False, na=False)
    return found


def row_reasons(parsed: pd.DataFrame, limits: RowLimits | None = None) -> np.ndarray:
    """Per row, the position in REJECT_REASONS of its most important failure; -1 if it passes.

    ``parsed`` holds the canonical columns as parsed, plus ``customer_id_blank`` and
    ``date_out_of_range`` (booleans).
    """
    failing = _failures(parsed, limits or RowLimits())
    rank = np.full(len(parsed), -1, dtype="int64")
    for position in range(len(REJECT_REASONS) - 1, -1, -1):  # the most important is set last
        fails = failing.get(REJECT_REASONS[position])
        if fails is not None:
            rank[fails.fillna(False).to_numpy(dtype=bool)] = position
    return rank
