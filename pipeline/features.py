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

Money is summed exactly, as integers of a millionth of the currency unit, when every line value
is such a multiple (prices with up to six decimals, as in the exports we know); otherwise the lines
are summed in a canonical order (by customer, then value). Either way the result does not depend
on the order of the input rows, down to the last bit.
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
    limit = np.datetime64(day, "D").astype("int64")
    days = clean["invoice_date"].to_numpy().astype("datetime64[D]").astype("int64")
    quantity = clean["quantity"].to_numpy(dtype="int64")
    in_window = days <= limit
    frame = pd.DataFrame(
        {
            "customer_id": clean["customer_id"].to_numpy(dtype="int64"),
            "invoice": pd.factorize(clean["invoice_no"])[0],
            "day": days,
            "quantity": quantity,
            "value": quantity * clean["unit_price"].to_numpy(dtype="float64"),
        }
    )
    features = _purchase_features(frame[in_window & (quantity > 0)], limit)
    returns = _return_features(frame[in_window & (quantity < 0)], features.index)
    features = features.join(returns)
    features["tenure_days"] = (limit - features.pop("first_day")).astype("int64")
    features["purchase_frequency"] = features["invoice_quantity"] / (features["tenure_days"] + 1)
    return features.loc[:, list(ALL_FEATURE_COLUMNS)]


def _check_input(clean: pd.DataFrame) -> None:
    missing = [c for c in _NEEDED if c not in clean.columns]
    if missing:
        raise PipelineInputError(f"cleaned transactions lack column(s): {', '.join(missing)}")
    if clean["customer_id"].isna().any():
        raise PipelineInputError("customer_id has missing values: clean the transactions first")


def _value_sums(rows: pd.DataFrame) -> pd.Series:
    """Sum of ``value`` per customer, independent of the row order (see the module docstring)."""
    value = rows["value"].to_numpy()
    micro = np.rint(value * _MICRO)
    if np.all(np.abs(value * _MICRO - micro) < 1e-3) and np.all(np.abs(micro) < 2.0**52):
        sums = pd.Series(micro.astype("int64"), index=rows.index).groupby(rows["customer_id"]).sum()
        return sums / _MICRO
    order = np.lexsort((value, rows["customer_id"].to_numpy()))
    return rows.iloc[order].groupby("customer_id")["value"].sum()


def _distinct_invoices(rows: pd.DataFrame) -> pd.Series:
    pairs = rows[["customer_id", "invoice"]].drop_duplicates()
    return pairs.groupby("customer_id").size()


def _purchase_features(rows: pd.DataFrame, limit: int) -> pd.DataFrame:
    grouped = rows.groupby("customer_id", sort=True)
    out = grouped.agg(
        last_day=("day", "max"),
        first_day=("day", "min"),
        items_quantity=("quantity", "sum"),
        products_quantity=("quantity", "size"),
    )
    out.insert(0, "gross_revenue", _value_sums(rows))
    out["recency_days"] = (limit - out.pop("last_day")).astype("int64")
    out["invoice_quantity"] = _distinct_invoices(rows).reindex(out.index).astype("int64")
    out["avg_ticket"] = out["gross_revenue"] / out["products_quantity"]
    out["items_quantity"] = out["items_quantity"].astype("int64")
    out["products_quantity"] = out["products_quantity"].astype("int64")
    out.index = out.index.astype("int64")
    out.index.name = "customer_id"
    return out


def _return_features(rows: pd.DataFrame, customers: pd.Index) -> pd.DataFrame:
    rows = rows[rows["customer_id"].isin(customers)]
    out = pd.DataFrame(
        {
            "returns_count": _distinct_invoices(rows),
            "returns_quantity": -rows.groupby("customer_id")["quantity"].sum(),
            "returns_value": -_value_sums(rows),
        }
    )
    out = out.reindex(customers, fill_value=0)
    return out.astype({"returns_count": "int64", "returns_quantity": "int64",
                       "returns_value": "float64"})
