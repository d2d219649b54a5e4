"""A refit's fitting sample drawn in the database, on PostgreSQL and on SQLite: the customers
:func:`pipeline.segment.fit_sample` chooses from the features as of a date, chosen by one
query over the daily rollup, so a refit reads the features and RFM summary of the sample
(about ``MAX_FIT_CUSTOMERS`` rows) to fit on, however many customers there are.

The rule is the pandas sampler's, step for step: customers ranked by gross revenue (ties by
id) fall into ``strata`` equal-count bins (rank x strata / n); each bin gives
``size x max_customers / n`` of its customers, those with the smallest seeded key of their id
(:func:`pipeline.segment.id_hash`, computed here in SQL; ties by id). Integer division
throughout, as numpy's.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, text

from pipeline.run_data import FitSample
from pipeline.segment import ID_HASH_PRIME, ID_HASH_STEPS, MAX_FIT_CUSTOMERS, REVENUE_STRATA
from store.features_sql import rollup_features
from store.run_inputs import day_literal, rollup_rfm


def id_hash_sql(column: str, seed: int) -> list[str]:
    """SELECT expressions, one per step, each over the previous one's ``x``: the last gives
    :func:`pipeline.segment.id_hash` of ``column`` (only integers reach the text)."""
    prime, seed = ID_HASH_PRIME, int(seed) % ID_HASH_PRIME
    steps = [f"(({column} % {prime}) + {prime} + {seed}) % {prime}"]
    for step, value in ID_HASH_STEPS:
        value = int(value)
        if step == "multiply":
            steps.append(f"(x * {value}) % {prime}")
        else:  # xor written with | and &, which SQLite has (it has no xor operator)
            steps.append(f"(x | (x >> {value})) - (x & (x >> {value}))")
    return steps


def sample_ids_sql(dialect: str, as_of: dt.date, max_customers: int, random_state: int,
                   strata: int = REVENUE_STRATA) -> str:
    """The customer ids of the fitting sample as of ``as_of`` (every customer when there are
    ``max_customers`` or fewer), one column ``customer_id``."""
    real = "DOUBLE PRECISION" if dialect == "postgresql" else "REAL"
    hashes = id_hash_sql("customer_id", random_state)
    chain = [f"h0 AS (SELECT customer_id, revenue, {hashes[0]} AS x FROM r)"]
    chain += [f"h{i} AS (SELECT customer_id, revenue, {step} AS x FROM h{i - 1})"
              for i, step in enumerate(hashes[1:], start=1)]
    last = f"h{len(hashes) - 1}"
    return f"""
WITH r AS (
    SELECT c.customer_id, CAST(SUM(c.revenue_micro) AS {real}) / 1000000 AS revenue
    FROM customer_days c
    WHERE c.day <= {day_literal(dialect, as_of)}
    GROUP BY c.customer_id
    HAVING SUM(c.purchase_lines) > 0
), {", ".join(chain)}, ranked AS (
    SELECT customer_id, x AS sample_key,
           (ROW_NUMBER() OVER (ORDER BY revenue, customer_id) - 1) * {int(strata)}
               / COUNT(*) OVER () AS stratum
    FROM {last}
), placed AS (
    SELECT customer_id, stratum,
           ROW_NUMBER() OVER (PARTITION BY stratum ORDER BY sample_key, customer_id) - 1
               AS place,
           COUNT(*) OVER (PARTITION BY stratum) AS size,
           COUNT(*) OVER () AS n
    FROM ranked
)
SELECT customer_id FROM placed WHERE place < size * {int(max_customers)} / n"""


def count_customers(connection: Connection, as_of: dt.date) -> int:
    """How many customers the features as of ``as_of`` have (a purchase line by then)."""
    return int(connection.execute(text(f"""
SELECT COUNT(*) FROM (
    SELECT c.customer_id FROM customer_days c
    WHERE c.day <= {day_literal(connection.dialect.name, as_of)}
    GROUP BY c.customer_id HAVING SUM(c.purchase_lines) > 0
) counted""")).scalar_one())


def load_fit_sample(
    connection: Connection, as_of: dt.date, *, random_state: int,
    max_customers: int = MAX_FIT_CUSTOMERS,
) -> FitSample | None:
    """The features and RFM summary of the fitting sample as of ``as_of``, or None when there
    are ``max_customers`` customers or fewer (a refit then fits on every customer)."""
    n = count_customers(connection, as_of)
    if n <= max_customers:
        return None
    chosen = sample_ids_sql(connection.dialect.name, as_of, max_customers, random_state)
    return FitSample(
        features=rollup_features(connection, as_of, customers=chosen),
        rfm=rollup_rfm(connection, as_of, customers=chosen),
        random_state=random_state,
        max_customers=max_customers,
        drawn_from=n,
    )
