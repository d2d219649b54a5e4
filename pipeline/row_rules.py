"""The row rules of ingest: which parsed rows are rejected, and for what reason.

The rules are a pandera schema over the parsed columns; each check's name is the reason a
failing row is rejected with, and a row failing several rules is counted once, under the most
important.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
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


@functools.lru_cache(maxsize=8)
def _row_schema(limits: RowLimits) -> pa.DataFrameSchema:
    """Row rules; each check's name is the reason a failing row is rejected with."""

    def rule(fn: Any, reason: str) -> pa.Check:
        return pa.Check(fn, name=reason, ignore_na=False)

    def text_present(s: pd.Series) -> pd.Series:
        return ~blank_text(s)

    def finite(s: pd.Series) -> pd.Series:
        return pd.Series(np.isfinite(s.to_numpy()), index=s.index)

    def at_most(limit: float | None) -> Any:
        if limit is None:
            return lambda s: pd.Series(True, index=s.index)
        return lambda s: ~(np.abs(s) > limit)  # NaN is another rule's reason

    def not_longer(column: str) -> list[pa.Check]:
        limit = limits.length_of(column)
        if limit is None:
            return []
        return [rule(lambda s: ~(s.str.len() > limit), f"{column}_too_long")]

    def text(column: str, *checks: pa.Check) -> pa.Column:
        return pa.Column(nullable=True, checks=[*checks, *not_longer(column)])

    return pa.DataFrameSchema(
        {
            "invoice_no": text("invoice_no", rule(text_present, "empty_invoice_no")),
            "stock_code": text("stock_code", rule(text_present, "empty_stock_code")),
            "description": text("description"),
            "country": text("country"),
            "date_out_of_range": pa.Column(checks=rule(lambda s: ~s, "date_out_of_range")),
            "quantity": pa.Column(
                nullable=True,
                checks=[
                    rule(finite, "non_numeric_quantity"),
                    rule(lambda s: s.isna() | _integral(s), "non_integer_quantity"),
                    rule(at_most(limits.max_quantity), "quantity_out_of_range"),
                ],
            ),
            "unit_price": pa.Column(
                nullable=True,
                checks=[
                    rule(finite, "non_numeric_unit_price"),
                    rule(at_most(limits.max_unit_price), "unit_price_out_of_range"),
                ],
            ),
        },
        checks=[
            rule(
                lambda df: df["invoice_date"].notna() | df["date_out_of_range"],
                "unparseable_date",
            ),
            rule(
                lambda df: df["customer_id_blank"]
                | (np.isfinite(df["customer_id"]) & _integral(df["customer_id"])),
                "invalid_customer_id",
            ),
            # PostgreSQL text cannot hold the NUL character
            rule(lambda df: ~_has_nul(df), "nul_character_in_text"),
        ],
    )


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
    rank = np.full(len(parsed), -1, dtype="int64")
    try:
        _row_schema(limits or RowLimits()).validate(parsed, lazy=True)
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
