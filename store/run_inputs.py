"""A run's per-customer figures from the daily rollup (:mod:`store.rollup`), on PostgreSQL and
on SQLite, equal to what :mod:`pipeline.run_data` computes from cleaned transactions:

* :func:`rollup_rfm`: the forward model's RFM summary (:func:`pipeline.btyd.rfm_summary` of the
  purchase lines): purchase days are days with a purchase line (returns do not count), spend is
  the day's purchase value; frequency = purchase days - 1, recency and T in days, monetary value
  = the repeat days' mean spend, summed in millionths and divided once, as pandas does;
* :func:`rollup_spend`: purchase value per customer on the days after one date up to another;
* :func:`rollup_day_range`: the first and last invoice day of the cleaned rows;
* :func:`rollup_guest_range`: the guest ids the cleaning gave (``CleanResult.guest_id_range``);
* :func:`stored_totals`: how many rows are stored and their latest invoice date (from the
  batches' counts, not the rows); :func:`rollup_cleaning`: how many of them cleaning dropped;
* :func:`run_fingerprint`: what the run's data are, from the rollup's profile and the stored
  batches (see its docstring).

None of them reads the ``transactions`` table. Every per-customer query takes an optional
``partition``: ``(p, n)``, only customers with ``customer_id % n = p``, or a
:class:`CustomerRange`, only those in it (read through the rollup's (customer_id, day) key).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, func, select, text

from pipeline.btyd import RFM_COLUMNS
from store.bulk import copy_out
from store.rollup import RollupBatch, RollupState
from store.schema import TransactionBatch


@dataclass(frozen=True)
class CustomerRange:
    """The customers with ``lo <= customer_id < hi`` (None: no bound on that side)."""

    lo: int | None
    hi: int | None


Partition = tuple[int, int] | CustomerRange
"""(p, n): the customers whose id modulo n is p; or a range of customer ids."""

FINGERPRINT_FORMAT = "rollup-1"
_RFM_TYPES = {"customer_id": pa.int64(), **{name: pa.float64() for name in RFM_COLUMNS}}
_SPEND_TYPES = {"customer_id": pa.int64(), "spend": pa.float64()}


def partition_filter(partition: Partition | None, column: str = "c.customer_id") -> str:
    """`` AND column % n = p`` (or the range's bounds) for ``partition``, or nothing (only
    integers reach the text)."""
    if partition is None:
        return ""
    if isinstance(partition, CustomerRange):
        lo = "" if partition.lo is None else f" AND {column} >= {int(partition.lo)}"
        return lo + ("" if partition.hi is None else f" AND {column} < {int(partition.hi)}")
    p, n = (int(v) for v in partition)
    if n < 1 or not 0 <= p < n:
        raise ValueError(f"partition {p} of {n} does not exist")
    return f" AND {column} % {n} = {p}"


def customer_filter(customers: str | None, column: str = "c.customer_id") -> str:
    """`` AND column IN (customers)`` for a query of the store's own giving customer_id, or
    nothing."""
    return "" if customers is None else f" AND {column} IN ({customers})"


def day_literal(dialect: str, day: dt.date) -> str:
    """A date's own ISO text as a literal (nothing of a caller's text reaches a statement)."""
    day = dt.date.fromisoformat(day.isoformat())
    return f"CAST('{day.isoformat()}' AS DATE)" if dialect == "postgresql" \
        else f"'{day.isoformat()}'"


def _days(dialect: str, later: str, earlier: str) -> str:
    if dialect == "postgresql":
        return f"({later} - {earlier})"
    return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"


def rfm_sql(dialect: str, as_of: dt.date, partition: Partition | None = None,
            customers: str | None = None) -> str:
    """The RFM summary query as of ``as_of`` (columns customer_id + RFM_COLUMNS);
    ``customers``: only those a query of the store's own giving customer_id selects."""
    real = "DOUBLE PRECISION" if dialect == "postgresql" else "REAL"
    day = day_literal(dialect, as_of)
    return f"""
WITH d AS (
    SELECT c.customer_id, c.day, c.revenue_micro FROM customer_days c
    WHERE c.purchase_lines > 0 AND c.day <= {day}{partition_filter(partition)}\
{customer_filter(customers)}
), s AS (
    SELECT customer_id, MIN(day) AS first_day, MAX(day) AS last_day, COUNT(*) AS n_days,
           SUM(revenue_micro) AS total
    FROM d GROUP BY customer_id
)
SELECT s.customer_id,
       CAST(s.n_days - 1 AS {real}) AS frequency,
       CAST({_days(dialect, "s.last_day", "s.first_day")} AS {real}) AS recency,
       CAST({_days(dialect, day, "s.first_day")} AS {real}) AS "T",
       CASE WHEN s.n_days > 1
            THEN CAST(s.total - d.revenue_micro AS {real}) / 1000000 / CAST(s.n_days - 1 AS {real})
            ELSE 0.0 END AS monetary_value
FROM s JOIN d ON d.customer_id = s.customer_id AND d.day = s.first_day
ORDER BY s.customer_id"""


def spend_sql(dialect: str, start: dt.date | None, end: dt.date,
              partition: Partition | None = None) -> str:
    """Purchase value per customer on the days after ``start`` (None: any) up to ``end``."""
    real = "DOUBLE PRECISION" if dialect == "postgresql" else "REAL"
    after = "" if start is None else f" AND c.day > {day_literal(dialect, start)}"
    return f"""
SELECT c.customer_id, CAST(SUM(c.revenue_micro) AS {real}) / 1000000 AS spend
FROM customer_days c
WHERE c.purchase_lines > 0 AND c.day <= {day_literal(dialect, end)}{after}\
{partition_filter(partition)}
GROUP BY c.customer_id
ORDER BY c.customer_id"""


def rollup_rfm(connection: Connection, as_of: dt.date,
               partition: Partition | None = None, *,
               customers: str | None = None) -> pd.DataFrame:
    """:func:`pipeline.btyd.rfm_summary` of every customer's purchases up to ``as_of``
    (guests included; index customer_id ascending; float columns :data:`RFM_COLUMNS`);
    ``customers``: see :func:`rfm_sql`."""
    sql = rfm_sql(connection.dialect.name, as_of, partition, customers)
    frame = _read(connection, sql, _RFM_TYPES)
    return frame.set_index("customer_id").astype("float64")


def rollup_spend(connection: Connection, start: dt.date | None, end: dt.date,
                 partition: Partition | None = None) -> pd.Series:
    """:func:`pipeline.spend.purchase_spend` from the rollup."""
    sql = spend_sql(connection.dialect.name, start, end, partition)
    return _read(connection, sql, _SPEND_TYPES).set_index("customer_id")["spend"] \
        .astype("float64").rename(None)


def rollup_day_range(connection: Connection) -> tuple[dt.date, dt.date] | None:
    """The first and last invoice day of the cleaned rows, or None without any."""
    row = connection.execute(text("SELECT MIN(day), MAX(day) FROM customer_days")).one()
    if row[0] is None:
        return None
    return tuple(dt.date.fromisoformat(v) if isinstance(v, str) else v for v in row)


def rollup_customer_count(connection: Connection) -> int:
    """How many customers (guests included) the rollup holds."""
    return int(connection.execute(text(
        "SELECT COUNT(*) FROM (SELECT DISTINCT customer_id FROM customer_days) AS c")).scalar_one())


def rollup_guest_range(connection: Connection) -> tuple[int, int] | None:
    """The ids the cleaning gave guests, first and last, or None when it gave none."""
    start = connection.execute(select(RollupState.guest_start)).scalar_one_or_none()
    total = connection.execute(select(func.sum(RollupBatch.guest_invoices))).scalar_one()
    if start is None or not total:
        return None
    return int(start), int(start) + int(total) - 1


def stored_totals(connection: Connection) -> tuple[int, dt.datetime | None]:
    """Rows stored over every batch and their latest invoice date (None without rows)."""
    row = connection.execute(select(
        func.coalesce(func.sum(TransactionBatch.n_accepted), 0),
        func.max(TransactionBatch.max_invoice_date),
    )).one()
    return int(row[0]), row[1]


def rollup_cleaning(connection: Connection) -> dict[str, int]:
    """What the cleaning dropped: ``{"dropped": rows}``, the stored rows less the cleaned lines
    the rollup counts. The rollup keeps no reason per row, so the counts by reason that a run
    from a file records (``CleanResult.dropped_by_reason``) are not available here."""
    n_rows, _last = stored_totals(connection)
    kept = connection.execute(text("SELECT COALESCE(SUM(lines), 0) FROM customer_days"))
    kept = kept.scalar_one()
    return {"dropped": n_rows - int(kept)}


def run_fingerprint(connection: Connection, as_of: dt.date) -> str:
    """sha256 of what a run as of ``as_of`` reads: the rollup's cleaning profile and guest
    start, and every stored batch (id, content hash, rows kept), then the date.

    The rollup is a function of these (stored rows never change; a batch is removed whole), so
    two runs with the same fingerprint read the same figures. It differs from the fingerprint
    of cleaned rows that runs before it stored (:func:`pipeline.run.data_fingerprint`), so the
    first run after the upgrade is never found "unchanged"; batches dated after ``as_of``
    count too, as the report's out-of-time checks read them.
    """
    state = connection.execute(
        select(RollupState.profile, RollupState.definition, RollupState.guest_start)
    ).first()
    batches = connection.execute(
        select(TransactionBatch.id, TransactionBatch.content_sha256,
               TransactionBatch.n_accepted).order_by(TransactionBatch.id)
    ).all()
    content = {
        "format": FINGERPRINT_FORMAT,
        "profile": None if state is None else [state.profile, state.definition,
                                               state.guest_start],
        "batches": [[int(b.id), b.content_sha256, int(b.n_accepted)] for b in batches],
        "as_of": as_of.isoformat(),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _read(connection: Connection, sql: str, types: dict[str, pa.DataType]) -> pd.DataFrame:
    if connection.dialect.name == "postgresql":
        frame = copy_out(connection, sql, types).to_pandas()
    else:
        frame = pd.read_sql_query(text(sql), connection)
        if frame.empty:
            frame = pd.DataFrame({name: pd.Series(dtype=kind.to_pandas_dtype())
                                  for name, kind in types.items()})
    frame["customer_id"] = frame["customer_id"].astype("int64")
    return frame
