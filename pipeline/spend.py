"""Money per customer the way the daily rollup keeps it (:mod:`pipeline.rollup`): each line's
value rounded to whole millionths of the currency unit, summed as integers, divided once. Sums
are then exact and independent of the row order, and a database adding up the rollup's
``revenue_micro`` gets the same figures down to the last bit (:mod:`store.run_inputs`)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

MICRO = 1_000_000


def line_micro(quantity: np.ndarray, unit_price: np.ndarray) -> np.ndarray:
    """Each line's value, quantity x unit price, in whole millionths (int64)."""
    value = np.asarray(quantity, dtype="int64") * np.asarray(unit_price, dtype="float64")
    return np.rint(value * MICRO).astype("int64")


def purchase_spend(
    transactions: pd.DataFrame,
    start: dt.date | None,
    end: dt.date,
    *,
    customer_col: str = "customer_id",
    date_col: str = "invoice_date",
    quantity_col: str = "quantity",
    price_col: str = "unit_price",
) -> pd.Series:
    """Value bought per customer (index ascending, float) on the days after ``start`` (None:
    from the first) up to and including ``end``; customers without a purchase line then are
    absent, a purchase line of value 0 still lists its customer."""
    quantity = transactions[quantity_col].to_numpy(dtype="int64")
    day = transactions[date_col].to_numpy().astype("datetime64[D]")
    keep = (quantity > 0) & (day <= np.datetime64(end, "D"))
    if start is not None:
        keep &= day > np.datetime64(start, "D")
    micro = line_micro(quantity[keep], transactions[price_col].to_numpy()[keep])
    sums = pd.Series(micro).groupby(transactions[customer_col].to_numpy()[keep], sort=True).sum()
    out = sums.astype("float64") / MICRO
    out.index = pd.Index(out.index.to_numpy(dtype="int64"), name=customer_col)
    return out
