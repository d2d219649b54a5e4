"""The row rules of ingest: which parsed rows are rejected, and for what reason.

The rules are a pandera schema over the parsed columns; each check's name is the reason a
failing row is rejected with, and a row failing several rules is counted once, under the most
important.
"""

from __future__ import annotations

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
    "non_numeric_quantity",
    "non_integer_quantity",
    "non_numeric_unit_price",
    "empty_stock_code",
    "invalid_customer_id",
)


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


def _row_schema() -> pa.DataFrameSchema:
    """Row rules; each check's name is the reason a failing row is rejected with."""

    def rule(fn: Any, reason: str) -> pa.Check:
        return pa.Check(fn, name=reason, ignore_na=False)

    def text_present(s: pd.Series) -> pd.Series:
        return ~blank_text(s)

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


def row_reasons(parsed: pd.DataFrame) -> np.ndarray:
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
