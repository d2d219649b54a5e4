"""Features as of a date from the daily rollup (:mod:`store.rollup`): one aggregate query, on
PostgreSQL and on SQLite, giving exactly :func:`pipeline.features.customer_features`' frame
(same customers, columns, types and values, down to the last bit) for the transactions stored
and the rollup's cleaning profile.

Money is summed as whole millionths and divided once, as the pandas features do; every other
feature is a count, a sum, or a day difference; the ratios are computed in double precision
from the same operands, so they round the same way.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, Engine, func, select, text

from pipeline.errors import InsidersError, PipelineInputError
from pipeline.features import ALL_FEATURE_COLUMNS, resolve_as_of
from store.bulk import copy_out
from store.rollup import RollupBatch, RollupState
from store.run_inputs import customer_filter, partition_filter
from store.schema import TransactionBatch

INTEGER_FEATURES = ("recency_days", "invoice_quantity", "items_quantity", "products_quantity",
                    "returns_count", "returns_quantity", "tenure_days")
_TYPES = {"customer_id": pa.int64(), **{
    name: pa.int64() if name in INTEGER_FEATURES else pa.float64()
    for name in ALL_FEATURE_COLUMNS
}}


class RollupNotReady(InsidersError):
    """The rollup does not hold every stored batch, or was built without a known profile."""


def rollup_features(
    engine: Engine | Connection, as_of: dt.date | str | None = None,
    partition: tuple[int, int] | None = None, *, customers: str | None = None,
) -> pd.DataFrame:
    """Features per customer (index ``customer_id``, ascending) as of ``as_of`` (default: the
    latest invoice day of the cleaned rows), from the rollup; ``partition=(p, n)``: only the
    customers whose id modulo n is p; ``customers``: only those a query of the store's own
    (never a caller's text) selects, such as :func:`store.fit_sample.sample_ids_sql`."""
    if isinstance(engine, Connection):
        return _features(engine, as_of, partition, customers)
    with engine.connect() as connection:
        return _features(connection, as_of, partition, customers)


def rollup_last_day(connection: Connection) -> dt.date | None:
    """The latest invoice day of the cleaned rows (the default as-of date), or None."""
    _check_ready(connection)
    day = connection.execute(text("SELECT MAX(day) FROM customer_days")).scalar_one()
    return dt.date.fromisoformat(day) if isinstance(day, str) else day


def features_sql(dialect: str, as_of: dt.date | None,
                 partition: tuple[int, int] | None = None, customers: str | None = None) -> str:
    """The one aggregate query, for ``dialect``; ``as_of`` None takes the latest day;
    ``partition=(p, n)`` keeps the customers whose id modulo n is p; ``customers`` (a query
    giving customer_id) those it selects."""
    postgres = dialect == "postgresql"
    real = "DOUBLE PRECISION" if postgres else "REAL"
    if as_of is None:
        day = "(SELECT MAX(day) FROM customer_days)"
    else:
        # a date's own ISO text: nothing of the caller's reaches the statement
        day = f"CAST('{as_of.isoformat()}' AS DATE)" if postgres else f"'{as_of.isoformat()}'"

    def days_to(other: str) -> str:
        if postgres:
            return f"(w.as_of - {other})"
        return f"CAST(julianday(w.as_of) - julianday({other}) AS INTEGER)"

    last = "MAX(CASE WHEN c.purchase_lines > 0 THEN c.day END)"
    first = "MIN(CASE WHEN c.purchase_lines > 0 THEN c.day END)"
    gross = f"CAST(SUM(c.revenue_micro) AS {real}) / 1000000"
    return f"""
WITH w AS (SELECT {day} AS as_of)
SELECT c.customer_id AS customer_id,
       {gross} AS gross_revenue,
       {days_to(last)} AS recency_days,
       SUM(c.invoices) AS invoice_quantity,
       SUM(c.items) AS items_quantity,
       SUM(c.purchase_lines) AS products_quantity,
       {gross} / CAST(SUM(c.purchase_lines) AS {real}) AS avg_ticket,
       SUM(c.return_invoices) AS returns_count,
       SUM(c.returned_items) AS returns_quantity,
       CAST(SUM(c.returns_micro) AS {real}) / 1000000 AS returns_value,
       {days_to(first)} AS tenure_days,
       CAST(SUM(c.invoices) AS {real}) / CAST({days_to(first)} + 1 AS {real})
           AS purchase_frequency
FROM customer_days c CROSS JOIN w
WHERE c.day <= w.as_of{partition_filter(partition)}{customer_filter(customers)}
GROUP BY c.customer_id, w.as_of
HAVING SUM(c.purchase_lines) > 0
ORDER BY c.customer_id"""


def _features(connection: Connection, as_of: dt.date | str | None,
              partition: tuple[int, int] | None, customers: str | None) -> pd.DataFrame:
    day = None if as_of is None else resolve_as_of(pd.DataFrame(), as_of)
    has_batches = _check_ready(connection)
    if day is None and (not has_batches or rollup_last_day(connection) is None):
        raise PipelineInputError("no transactions: cannot choose an as-of date")
    sql = features_sql(connection.dialect.name, day, partition, customers)
    if not has_batches:
        frame = pd.DataFrame({name: pd.Series(dtype=kind.to_pandas_dtype())
                              for name, kind in _TYPES.items()})
    elif connection.dialect.name == "postgresql":
        frame = copy_out(connection, sql, _TYPES).to_pandas()
    else:
        frame = pd.read_sql_query(text(sql), connection)
    frame = frame.astype({name: kind.to_pandas_dtype() for name, kind in _TYPES.items()})
    frame = frame.set_index("customer_id")
    frame.index = pd.Index(frame.index.to_numpy(dtype=np.int64), name="customer_id")
    return frame.loc[:, list(ALL_FEATURE_COLUMNS)]


def _check_ready(connection: Connection) -> bool:
    """Whether any batch is stored; raise RollupNotReady when the rollup does not hold them."""
    n_batches = connection.execute(
        select(func.count()).select_from(TransactionBatch)
    ).scalar_one()
    if not n_batches:
        return False
    rolled = connection.execute(select(func.count()).select_from(RollupBatch)).scalar_one()
    state = connection.execute(select(RollupState.profile, RollupState.definition)).first()
    if rolled != n_batches or state is None:
        raise RollupNotReady(
            "the daily totals do not cover every stored batch yet: run insiders rollup rebuild"
        )
    if state.definition is None:
        raise RollupNotReady(
            f"the daily totals could not be built with the cleaning profile {state.profile!r}:"
            " run insiders rollup rebuild --profile NAME"
        )
    return True
