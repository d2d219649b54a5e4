"""The refit's fitting sample drawn by a query (store.fit_sample, SQLite here; PostgreSQL and
the real data in tests/integration/test_fit_sample_real_data.py) is the pandas sampler's
choice (pipeline.segment.fit_sample), revenue ties, odd ids and seeds included."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from pipeline.segment import fit_sample, id_hash
from store.fit_sample import count_customers, id_hash_sql, sample_ids_sql
from store.schema import Base

DAY = dt.date(2011, 6, 30)


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def _days(engine, ids: np.ndarray, revenue_micro: np.ndarray, day=DAY, purchases=1) -> None:
    rows = pd.DataFrame({
        "customer_id": ids, "day": day, "lines": 1, "purchase_lines": purchases, "invoices": 1,
        "items": 1, "revenue_micro": revenue_micro, "return_invoices": 0,
        "returned_items": 0, "returns_micro": 0,
    })
    rows.to_sql("customer_days", engine, if_exists="append", index=False)


def _sql_ids(engine, as_of, max_customers, seed, strata=100) -> np.ndarray:
    sql = sample_ids_sql("sqlite", as_of, max_customers, seed, strata)
    with engine.connect() as connection:
        ids = connection.execute(text(sql)).scalars().all()
    return np.sort(np.asarray(ids, dtype=np.int64))


def _pandas_ids(ids, revenue, max_customers, seed, strata=100) -> np.ndarray:
    order = np.argsort(ids)
    ids, revenue = np.asarray(ids)[order], np.asarray(revenue)[order]
    return ids[fit_sample(ids, revenue, max_customers, random_state=seed, strata=strata)]


@pytest.mark.parametrize("seed", [0, 42, 7_000_000_000, -3])
def test_the_query_computes_the_pandas_key_of_every_id(engine, seed):
    ids = np.array([0, 1, 2, 12346, 18287, 2**31 - 2, 2**31 - 1, 2**31, 2**40 + 5, -1, -12346])
    steps = id_hash_sql("v.customer_id", seed)
    select = "SELECT v.customer_id, " + steps[0] + " AS x FROM v"
    for step in steps[1:]:
        select = f"SELECT customer_id, {step} AS x FROM ({select}) v"
    with engine.begin() as connection:
        connection.execute(text("CREATE TEMP TABLE v (customer_id BIGINT)"))
        connection.execute(text("INSERT INTO v VALUES (:i)"), [{"i": int(i)} for i in ids])
        got = dict(connection.execute(text(select)).all())
    np.testing.assert_array_equal([got[int(i)] for i in ids], id_hash(ids, seed))


def test_the_key_looks_random_against_the_id():
    ids = np.arange(12346, 12346 + 20_000)
    keys = id_hash(ids, 42)
    assert len(np.unique(keys)) == len(ids)
    assert abs(np.corrcoef(ids, keys)[0, 1]) < 0.03
    # the 2,000 smallest keys spread evenly over the ids
    assert np.histogram(ids[np.argsort(keys)[:2000]], bins=10)[0].min() > 150


@pytest.mark.parametrize(("max_customers", "seed", "strata"),
                         [(60, 42, 10), (137, 1, 10), (300, 5, 7), (350, 42, 100), (1000, 42, 100)])
def test_the_query_draws_the_pandas_sample(engine, max_customers, seed, strata):
    rng = np.random.default_rng(0)
    ids = rng.choice(np.arange(10_000, 90_000), 700, replace=False)
    # many ties: revenue in whole pounds from a short range, and a block of equal spenders
    revenue = rng.integers(1, 40, len(ids)) * 1_000_000
    revenue[:120] = 5_000_000
    _days(engine, ids, revenue)
    # a returns-only customer and a customer first seen after the date are not customers yet
    _days(engine, np.array([5]), np.array([0]), purchases=0)
    _days(engine, np.array([6]), np.array([9_000_000]), day=DAY + dt.timedelta(days=1))
    with engine.connect() as connection:
        assert count_customers(connection, DAY) == len(ids)
    expected = _pandas_ids(ids, revenue / 1e6, max_customers, seed, strata)
    got = _sql_ids(engine, DAY, max_customers, seed, strata)
    np.testing.assert_array_equal(got, expected)
    assert 0 < len(got) <= max_customers


def test_at_or_under_the_size_every_customer_is_drawn(engine):
    ids = np.arange(100, 150)
    _days(engine, ids, np.arange(50) * 1_000)
    np.testing.assert_array_equal(_sql_ids(engine, DAY, 50, 42), ids)
