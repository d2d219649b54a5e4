"""Per-customer features as of a date, from cleaned transactions.

Dates count at day precision: a row belongs to the window when its invoice day is on or before
``as_of`` (default: the latest invoice day in the cleaned data, returns included). Purchases are
rows with ``quantity > 0``, returns rows with ``quantity < 0``; a customer without a purchase in the
window is left out, even if they have returns.

Features, in this order (the first six are :data:`~pipeline.columns.FEATURE_COLUMNS`):

``gross_revenue``      sum of quantity x unit_price over purchase lines
``recency_days``       as_of - the day of the customer's last purchase, in days
``invoice_quantity``   number of distinct purchase invoices
``items_quantity``     sum of purchase quantities
``products_quantity``  number of purchase lines
``avg_ticket``         mean of quantity x unit_price over purchase lines
``returns_count``      number of distinct invoices with return lines
``returns_quantity``   units returned (positive)
``returns_value``      value returned, sum of -quantity x unit_price over return lines (positive)
``tenure_days``        as_of - the day of the customer's first purchase, in days
``purchase_frequency`` invoice_quantity / (tenure_days + 1): purchase invoices per day since the
                       first purchase, both days included

Money is summed exactly, as whole millionths of the currency unit, when every line value is such
a multiple (prices with up to six decimals, as in the exports we know); otherwise the lines are
summed in a canonical order (by customer, then value). Either way the result does not depend on
the order of the input rows, down to the last bit. Customers and invoices are hashed once; every
feature is then a vectorised count, sum, minimum or maximum over those codes.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from pipeline.columns import FEATURE_COLUMNS
from pipeline.errors import PipelineInputError

EXTRA_FEATURE_COLUMNS: tuple[str, ...] = (
    "returns_count",
    "returns_quantity",
    "returns_value",
    "tenure_days",
    "purchase_frequency",
)
ALL_FEATURE_COLUMNS: tuple[str, ...] = FEATURE_COLUMNS + EXTRA_FEATURE_COLUMNS

_MICRO = 1_000_000
_NEEDED = ("invoice_no", "quantity", "invoice_date", "unit_price", "customer_id")


def resolve_as_of(clean: pd.DataFrame, as_of: dt.date | str | None) -> dt.date:
    """The observation day: ``as_of`` as a date, or the latest invoice day in ``clean``."""
    if as_of is None:
        if len(clean) == 0:
            raise PipelineInputError("no transactions: cannot choose an as-of date")
        return pd.Timestamp(clean["invoice_date"].max()).date()
    if isinstance(as_of, dt.datetime | pd.Timestamp):
        return as_of.date()
    if isinstance(as_of, dt.date):
        return as_of
    try:
        return dt.date.fromisoformat(str(as_of).strip())
    except ValueError as exc:
        raise PipelineInputError(f"as-of date {as_of!r} is not a YYYY-MM-DD date") from exc


def customer_features(clean: pd.DataFrame, as_of: dt.date | str | None = None) -> pd.DataFrame:
    """Features per customer (index ``customer_id``, ascending) as of ``as_of``; see module doc."""
    _check_input(clean)
    day = resolve_as_of(clean, as_of)
    limit = int(np.datetime64(day, "D").astype("int64"))
    days = clean["invoice_date"].to_numpy().astype("datetime64[D]").astype("int64")
    quantity = clean["quantity"].to_numpy(dtype="int64")
    in_window = days <= limit
    purchase = in_window & (quantity > 0)
    ret = in_window & (quantity < 0)
    # One pass of hashing: customers (sorted, so codes follow ascending ids) and invoices.
    codes, customers = pd.factorize(clean["customer_id"].to_numpy(dtype="int64"), sort=True)
    invoices = pd.factorize(clean["invoice_no"])[0]
    value = quantity * clean["unit_price"].to_numpy(dtype="float64")
    n = len(customers)

    pc, pdays = codes[purchase], days[purchase]
    products = np.bincount(pc, minlength=n)
    # Start values inside the window's range, so customers without purchases cannot overflow.
    last = np.full(n, days.min() if len(days) else limit)
    np.maximum.at(last, pc, pdays)
    first = np.full(n, limit)
    np.minimum.at(first, pc, pdays)
    gross = _value_sums(pc, value[purchase], n)
    rc = codes[ret]
    out = pd.DataFrame(
        {
            "gross_revenue": gross,
            "recency_days": limit - last,
            "invoice_quantity": _distinct_invoices(pc, invoices[purchase], n),
            "items_quantity": _int_sums(pc, quantity[purchase], n),
            "products_quantity": products.astype("int64"),
            "avg_ticket": gross / np.maximum(products, 1),
            "returns_count": _distinct_invoices(rc, invoices[ret], n),
            "returns_quantity": -_int_sums(rc, quantity[ret], n),
            "returns_value": 0.0 - _value_sums(rc, value[ret], n),  # 0.0, not -0.0
            "tenure_days": limit - first,
        },
        index=pd.Index(customers.astype("int64"), name="customer_id"),
    )
    out["purchase_frequency"] = out["invoice_quantity"] / (out["tenure_days"] + 1)
    # Customers with returns only (or only rows after as_of) are left out.
    return out.loc[products > 0, list(ALL_FEATURE_COLUMNS)]


def _check_input(clean: pd.DataFrame) -> None:
    missing = [c for c in _NEEDED if c not in clean.columns]
    if missing:
        raise PipelineInputError(f"cleaned transactions lack column(s): {', '.join(missing)}")
    if clean["customer_id"].isna().any():
        raise PipelineInputError("customer_id has missing values: clean the transactions first")


def _int_sums(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, dtype="int64")
    np.add.at(out, codes, values)
    return out


def _value_sums(codes: np.ndarray, value: np.ndarray, n: int) -> np.ndarray:
    """Money per customer, independent of the row order (see the module docstring)."""
    micro = np.rint(value * _MICRO)
    exact = np.all(np.abs(value * _MICRO - micro) < 1e-3)
    if exact and np.abs(micro).sum() < 2.0**53:
        # Whole numbers below 2**53 add exactly in float64, in any order.
        return np.bincount(codes, weights=micro, minlength=n) / _MICRO
    order = np.lexsort((value, codes))
    sums = pd.Series(value[order]).groupby(codes[order]).sum()
    return sums.reindex(range(n), fill_value=0.0).to_numpy()


def _distinct_invoices(codes: np.ndarray, invoices: np.ndarray, n: int) -> np.ndarray:
    n_invoices = int(invoices.max()) + 1 if len(invoices) else 1
    pairs = pd.unique(codes.astype("int64") * n_invoices + invoices)
    return np.bincount(pairs // n_invoices, minlength=n).astype("int64")
