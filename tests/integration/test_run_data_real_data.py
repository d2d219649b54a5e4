"""A run's figures read from the daily rollup (store.run_data, store.run_inputs) equal the ones
pipeline.run_data computes from the cleaned transactions, exactly, on the real data set, on
PostgreSQL and on SQLite: features, the forward model's RFM summary, the report's spends and
forecast-check inputs, the guest range and the row count; per partition too."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from pipeline.clean import CleanResult, clean_transactions, load_profile
from pipeline.forecast import ForwardModel
from pipeline.partition_scoring import forecast_check
from pipeline.report_forecast import forecast_lines
from pipeline.run_data import RunData, run_data_from_clean
from pipeline.spend import purchase_spend
from store.batches import list_batches, remove_batch
from store.partition_data import check_inputs
from store.rollup import rebuild
from store.run_data import load_run_data
from store.run_inputs import (
    rollup_customer_count,
    rollup_rfm,
    rollup_spend,
    run_fingerprint,
    stored_totals,
)
from store.schema import Base
from store.transactions import count_transactions, ingest_file, load_transactions
from tests.unit.model_data import THRESHOLDS
from tests.unit.test_rollup import EDGES, line, write

pytestmark = pytest.mark.integration
DATES = (dt.date(2011, 12, 9), dt.date(2011, 6, 30), dt.date(2010, 12, 1))
TABLES = "customer_days, rollup_state, transactions, transaction_batches"


def _empty(engine) -> None:
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="module")
def pg_real(pg_engine, real_data_path):
    _empty(pg_engine)
    ingest_file(pg_engine, real_data_path, profile="online-retail")
    yield pg_engine
    _empty(pg_engine)


@pytest.fixture(scope="module")
def sqlite_real(tmp_path_factory, real_data_path):
    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('rundata') / 'store.db'}")
    Base.metadata.create_all(engine)
    ingest_file(engine, real_data_path, profile="online-retail")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def cleaned(sqlite_real) -> tuple[CleanResult, int]:
    stored = load_transactions(sqlite_real)
    return clean_transactions(stored, load_profile("online-retail")), len(stored)


def assert_same_run_data(got: RunData, expected: RunData) -> None:
    """Every figure equal, bit for bit (the fingerprints are computed differently)."""
    pd.testing.assert_frame_equal(got.features, expected.features, check_exact=True)
    pd.testing.assert_frame_equal(got.rfm, expected.rfm, check_exact=True)
    assert got.guest_id_range == expected.guest_id_range
    assert got.n_transactions == expected.n_transactions
    assert (got.report is None) == (expected.report is None)
    if got.report is None:
        return
    assert got.report.last_day == expected.report.last_day
    assert got.report.horizon_days == expected.report.horizon_days
    assert (got.report.after is None) == (expected.report.after is None)
    if expected.report.after is not None:
        pd.testing.assert_series_equal(got.report.after, expected.report.after, check_exact=True)
    check, want = got.report.check, expected.report.check
    assert (check is None) == (want is None)
    if want is None:
        return
    assert check.fit_day == want.fit_day
    pd.testing.assert_frame_equal(check.rfm, want.rfm, check_exact=True)
    for name in ("recent", "actual", "lifetime"):
        pd.testing.assert_series_equal(getattr(check.spends, name), getattr(want.spends, name),
                                       check_exact=True)
    if want.entry_features is None:
        assert check.entry_features is None
    else:
        pd.testing.assert_frame_equal(check.entry_features, want.entry_features,
                                      check_exact=True)


@pytest.mark.parametrize("database", ["pg_real", "sqlite_real"])
def test_run_data_from_the_rollup_equals_pandas_on_the_real_data(database, cleaned, request):
    engine = request.getfixturevalue(database)
    result, n_rows = cleaned
    for as_of in DATES:
        with engine.connect() as connection:
            got = load_run_data(connection, as_of, horizon_days=90)
        expected = run_data_from_clean(result, as_of, fingerprint="", horizon_days=90,
                                       n_transactions=n_rows)
        assert_same_run_data(got, expected)
    assert len(got.features) > 0 and got.report.check is None  # 2010-12-01: no history yet
    assert result.guest_id_range is not None and got.guest_id_range == result.guest_id_range


@pytest.mark.parametrize("database", ["pg_real", "sqlite_real"])
def test_rfm_and_spend_queries_equal_pandas(database, cleaned, request):
    engine = request.getfixturevalue(database)
    clean = cleaned[0].transactions
    with engine.connect() as connection:
        rfm = rollup_rfm(connection, dt.date(2011, 9, 10))
        windows = [(None, dt.date(2011, 3, 1)), (dt.date(2011, 3, 1), dt.date(2011, 5, 30)),
                   (dt.date(2011, 12, 9), dt.date(2012, 3, 8))]
        spends = [rollup_spend(connection, start, end) for start, end in windows]
        n_rows, last = stored_totals(connection)
        assert n_rows == count_transactions(connection)
    expected = ForwardModel().summarize(clean, dt.date(2011, 9, 10))
    pd.testing.assert_frame_equal(rfm, expected, check_exact=True)
    assert (rfm["frequency"] > 0).any() and (rfm["monetary_value"] > 0).any()
    for (start, end), got in zip(windows, spends, strict=True):
        pd.testing.assert_series_equal(got, purchase_spend(clean, start, end), check_exact=True)
    assert spends[-1].empty  # nothing after the last day
    assert last.date() == dt.date(2011, 12, 9)


def test_partitions_cover_every_customer_once(pg_real, sqlite_real):
    for engine in (pg_real, sqlite_real):
        with engine.connect() as connection:
            whole = load_run_data(connection, DATES[1], horizon_days=90, report=False)
            parts = [load_run_data(connection, DATES[1], horizon_days=90, partition=(p, 3),
                                   report=False) for p in range(3)]
        assert whole.report is None
        for name in ("features", "rfm"):
            joined = pd.concat([getattr(part, name) for part in parts]).sort_index()
            pd.testing.assert_frame_equal(joined, getattr(whole, name), check_exact=True)
        assert all(len(part.features) < len(whole.features) for part in parts)
        assert (parts[1].features.index % 3 == 1).all()


def test_fingerprint_follows_the_date_batches_and_profile(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'small.db'}")
    Base.metadata.create_all(engine)
    ingest_file(engine, write(tmp_path, "a.csv", EDGES), profile="online-retail")

    def fingerprint(as_of=DATES[0]):
        with engine.connect() as connection:
            return run_fingerprint(connection, as_of)

    first = fingerprint()
    assert fingerprint() == first and fingerprint(DATES[1]) != first
    later = [line(581000, "2011-12-10 10:00", customer="12347")]
    ingest_file(engine, write(tmp_path, "b.csv", later), profile="online-retail")
    assert fingerprint() != first  # a later batch changes the report's out-of-time figures
    with_b = fingerprint()
    remove_batch(engine, list_batches(engine)[-1].batch_id)
    assert fingerprint() == first
    with engine.begin() as connection:
        rebuild(connection, "default")
    assert fingerprint() not in (first, with_b)


@pytest.mark.parametrize("database", ["pg_real", "sqlite_real"])
def test_the_forecast_check_reads_every_kth_customer_above_its_limit(database, request):
    engine = request.getfixturevalue(database)
    as_of = dt.date(2011, 12, 9)
    with engine.connect() as connection:
        whole = check_inputs(connection, as_of, horizon_days=90)
        customers = rollup_customer_count(connection)
        sampled = check_inputs(connection, as_of, horizon_days=90, max_customers=1_000)
    every = -(-customers // 1_000)
    assert whole.check.sample is None  # 5,695 customers and their guests: all of them
    assert sampled.check.sample == (every, customers) and every == 6
    kept = lambda frame: frame.loc[frame.index % every == 0]  # noqa: E731
    pd.testing.assert_frame_equal(sampled.check.rfm, kept(whole.check.rfm), check_exact=True)
    pd.testing.assert_frame_equal(sampled.check.entry_features,
                                  kept(whole.check.entry_features), check_exact=True)
    for name in ("recent", "actual", "lifetime"):
        pd.testing.assert_series_equal(getattr(sampled.check.spends, name),
                                       kept(getattr(whole.check.spends, name)), check_exact=True)
    assert sampled.after is None and whole.after is None  # nothing after the last day
    evidence = forecast_check(sampled, as_of, THRESHOLDS, random_state=42,
                              guest_id_range=None)
    of_all = forecast_check(whole, as_of, THRESHOLDS, random_state=42, guest_id_range=None)
    assert "sample" not in of_all
    assert evidence["sample"] == {"every": every, "customers": customers}
    assert abs(evidence["n_customers"] * every - of_all["n_customers"]) < of_all["n_customers"] / 10
    text_lines = "\n".join(forecast_lines(evidence))
    assert f"{evidence['n_customers']:,} customers (a sample: one customer number in 6 of the " \
        f"{customers:,} customers) spent from" in text_lines
