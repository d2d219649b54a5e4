"""Features from the daily rollup equal the pandas features exactly on the real data set
(5,695 customers, every feature), on PostgreSQL and on SQLite, as ingested and rebuilt in
ranges of lines; batch removal with guests on PostgreSQL (its upsert and delete run through a
temporary table)."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from pipeline.clean import clean_transactions, load_profile
from pipeline.features import customer_features
from store import rollup_merge
from store.batches import remove_batch
from store.features_sql import rollup_features
from store.rollup import rebuild
from store.schema import Base
from store.transactions import ingest_file, load_transactions
from tests.unit.test_rollup import EDGES, line, write

pytestmark = pytest.mark.integration
DATES = (None, "2011-06-30", "2010-12-01")
ROLLUP_TABLES = "customer_days, rollup_state, transactions, transaction_batches"


def _empty(engine) -> None:
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {ROLLUP_TABLES} RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="module")
def pg_real(pg_engine, real_data_path):
    _empty(pg_engine)
    ingest_file(pg_engine, real_data_path, profile="online-retail")
    yield pg_engine
    _empty(pg_engine)


@pytest.fixture(scope="module")
def sqlite_real(tmp_path_factory, real_data_path):
    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('rollup') / 'store.db'}")
    Base.metadata.create_all(engine)
    ingest_file(engine, real_data_path, profile="online-retail")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def clean_real(sqlite_real) -> pd.DataFrame:
    """The real data as stored and cleaned (read once: both databases hold the same rows)."""
    stored = load_transactions(sqlite_real)
    return clean_transactions(stored, load_profile("online-retail")).transactions


@pytest.mark.parametrize("database", ["pg_real", "sqlite_real"])
def test_rollup_features_equal_pandas_on_the_real_data(database, clean_real, request):
    engine = request.getfixturevalue(database)
    for as_of in DATES:
        expected = customer_features(clean_real, as_of)
        pd.testing.assert_frame_equal(rollup_features(engine, as_of), expected, check_exact=True)
    assert len(rollup_features(engine)) == 5695


@pytest.mark.parametrize("database", ["pg_real", "sqlite_real"])
def test_a_rebuild_in_ranges_of_lines_equals_pandas_on_the_real_data(
    database, clean_real, request, monkeypatch
):
    engine = request.getfixturevalue(database)
    monkeypatch.setattr(rollup_merge, "PIECE_ROWS", 100_000)  # six ranges of the file
    with engine.begin() as connection:
        outcome = rebuild(connection, "online-retail")
    assert outcome.n_rows == len(load_transactions(engine))
    for as_of in DATES:
        expected = customer_features(clean_real, as_of)
        pd.testing.assert_frame_equal(rollup_features(engine, as_of), expected, check_exact=True)


def test_removing_a_batch_on_postgresql(clean_db, tmp_path):
    guests = [line(540000 + i, f"2010-12-0{1 + i} 10:00", customer="") for i in range(3)]
    ingest_file(clean_db, write(tmp_path, "a.csv", EDGES), profile="online-retail")
    ingest_file(clean_db, write(tmp_path, "b.csv", guests[:2]), profile="online-retail")
    ingest_file(clean_db, write(tmp_path, "c.csv", guests[2:]), profile="online-retail")
    remove_batch(clean_db, 2)
    clean = clean_transactions(load_transactions(clean_db), load_profile("online-retail"))
    for as_of in (None, "2010-12-02"):
        pd.testing.assert_frame_equal(rollup_features(clean_db, as_of),
                                      customer_features(clean.transactions, as_of),
                                      check_exact=True)
    assert 19001 in rollup_features(clean_db).index and 19002 not in rollup_features(clean_db).index
    with clean_db.connect() as connection:
        days = connection.execute(text("SELECT count(*) FROM customer_days")).scalar_one()
    rows = clean.transactions
    # no row of the removed batch's guests is left behind
    assert days == rows.groupby(["customer_id", rows["invoice_date"].dt.date]).ngroups == 7
