"""The daily rollup (SQLite, as in the embedded mode): features from it equal the pandas
features exactly, through ingest, batch removal, guest renumbering and profile changes."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from cli import cli
from pipeline.clean import clean_transactions, load_profile
from pipeline.features import customer_features
from store import rollup_merge
from store.batches import remove_batch
from store.features_sql import RollupNotReady, rollup_features
from store.rollup import rebuild
from store.schema import Base
from store.transactions import ingest_file, load_transactions

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def line(invoice, when, qty=6, price=2.55, customer="17850", code="85123A", country="UK"):
    return f"{invoice},{code},HEART,{qty},{when},{price},{customer},{country}"


def write(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def pandas_features(engine, profile, as_of=None):
    clean = clean_transactions(load_transactions(engine), load_profile(profile)).transactions
    return customer_features(clean, as_of)


def assert_same(engine, profile="online-retail", dates=(None,)):
    for as_of in dates:
        expected = pandas_features(engine, profile, as_of)
        pd.testing.assert_frame_equal(rollup_features(engine, as_of), expected, check_exact=True)


EDGES = [
    # 17850: two invoices on one day, one spanning midnight, and a return
    line(536365, "2010-12-01 08:26"), line(536365, "2010-12-01 08:26", qty=2, price=7.65),
    line(536366, "2010-12-01 17:02", qty=3, price=1.85),
    line(536370, "2010-12-01 23:59", qty=1, price=3.75), line(536370, "2010-12-02 00:01"),
    line("C536379", "2010-12-03 09:41", qty=-2, price=2.55),
    # 13047: returns only, never a purchase
    line("C536383", "2010-12-02 09:49", qty=-1, price=4.65, customer="13047"),
    # 12583: a purchase in the morning and another in the evening of the last day
    line(536400, "2010-12-05 09:00", qty=24, price=0.85, customer="12583"),
    line(536401, "2010-12-05 19:30", qty=12, price=1.25, customer="12583"),
    # a guest, a postage line and an excluded country (cleaned away)
    line(536402, "2010-12-04 10:00", customer=""),
    line(536403, "2010-12-04 11:00", code="POST", price=18.0, customer="12583"),
    line(536404, "2010-12-04 12:00", customer="12600", country="Unspecified"),
]


def test_edge_cases_equal_the_pandas_features(engine, tmp_path):
    ingest_file(engine, write(tmp_path, "edges.csv", EDGES), profile="online-retail")
    assert_same(engine, dates=(None, "2010-12-01", "2010-12-02", "2010-12-04", "2010-12-09"))
    features = rollup_features(engine)
    assert 13047 not in features.index  # returns only
    assert 12600 not in features.index  # excluded country
    customer = features.loc[17850]
    assert customer["invoice_quantity"] == 3  # same-day invoices counted apart, 536370 once
    assert customer["returns_count"] == 1 and customer["returns_value"] == 5.1
    assert customer["tenure_days"] == 4 and customer["recency_days"] == 3
    assert features.loc[19000, "products_quantity"] == 1  # the guest


def as_parquet(csv_path):
    path = csv_path.with_suffix(".parquet")
    pd.read_csv(csv_path, dtype="str").to_parquet(path)
    return path


@pytest.mark.parametrize("piece_rows", [1, 2, 5])
def test_a_file_ingested_in_pieces_gives_the_same_rollup(engine, tmp_path, piece_rows):
    # guests and invoices whose lines fall in several pieces (536370 across midnight too),
    # a guest invoice coming back after another, and a second file adding to the same days
    guests = [line(536501, "2010-12-01 10:00", customer=""),  # numbered before 536500
              line(536500, "2010-12-03 11:00", customer="", qty=2),
              line(536501, "2010-12-02 09:00", customer="", qty=-1),
              line(536502, "2010-12-02 10:00", customer="16446")]  # an excluded customer
    first = as_parquet(write(tmp_path, "first.csv", EDGES + guests))
    outcome = ingest_file(engine, first, profile="online-retail", piece_rows=piece_rows)
    assert (outcome.n_rows, outcome.n_accepted) == (16, 16)
    later = [line(536365, "2010-12-01 08:26"), line(536600, "2010-12-01 09:00"),
             line(536601, "2010-12-05 12:00", customer=""), line(536600, "2010-12-06 09:00")]
    second = as_parquet(write(tmp_path, "second.csv", later))
    outcome = ingest_file(engine, second, profile="online-retail", piece_rows=piece_rows)
    assert (outcome.n_accepted, outcome.n_already_loaded) == (3, 1)  # 536365 is stored
    assert_same(engine, dates=(None, "2010-12-01", "2010-12-02", "2010-12-05"))
    assert set(rollup_features(engine).index) >= {19000, 19001, 19002}


def test_as_of_in_the_middle_of_a_day_counts_the_whole_day(engine, tmp_path):
    ingest_file(engine, write(tmp_path, "edges.csv", EDGES), profile="online-retail")
    midday = pd.Timestamp("2010-12-05 12:00")  # 536401 comes later that day
    features = rollup_features(engine, midday)
    pd.testing.assert_frame_equal(features, pandas_features(engine, "online-retail", midday),
                                  check_exact=True)
    assert features.loc[12583, "invoice_quantity"] == 2
    before = rollup_features(engine, "2010-12-04")
    assert 12583 not in before.index  # only its postage line by then: cleaned away


def test_removing_batches_with_guests_renumbers_the_later_guests(engine, tmp_path):
    days = [[line(537000 + 10 * b + i, f"2010-12-{b + 1:02d} 10:00", customer=c)
             for i, c in enumerate(["", "", "12347", ""])] for b in range(3)]
    for b, lines in enumerate(days):
        ingest_file(engine, write(tmp_path, f"day{b}.csv", lines), profile="online-retail")
    assert_same(engine)
    assert remove_batch(engine, 2) is not None  # the middle batch: later guests move down
    assert_same(engine, dates=(None, "2010-12-01"))
    assert set(rollup_features(engine).index) == {12347, 19000, 19001, 19002, 19003, 19004, 19005}
    remove_batch(engine, 1)
    remove_batch(engine, 3)
    with pytest.raises(Exception, match="no transactions"):
        rollup_features(engine)
    ingest_file(engine, write(tmp_path, "again.csv", days[0][:2]), profile="online-retail")
    assert_same(engine)


def test_a_real_id_in_the_guest_range_moves_every_guest(engine, tmp_path):
    first = [line(538000 + i, "2010-12-01 10:00", customer="") for i in range(3)]
    ingest_file(engine, write(tmp_path, "a.csv", first), profile="online-retail")
    assert list(rollup_features(engine).index) == [19000, 19001, 19002]
    second = [line(538100, "2010-12-02 10:00", customer="19001"),
              line(538101, "2010-12-02 11:00", customer="")]
    ingest_file(engine, write(tmp_path, "b.csv", second), profile="online-retail")
    assert_same(engine)
    assert list(rollup_features(engine).index) == [19001, 19002, 19003, 19004, 19005]
    remove_batch(engine, 2)  # the real id leaves: guests start at 19000 again
    assert_same(engine)
    assert list(rollup_features(engine).index) == [19000, 19001, 19002]


def test_a_batch_with_another_profile_rebuilds_with_it(engine, tmp_path):
    ingest_file(engine, write(tmp_path, "edges.csv", EDGES), profile="online-retail")
    more = [line(539000, "2010-12-06 10:00", customer="")]
    ingest_file(engine, write(tmp_path, "more.csv", more), profile="default")
    assert_same(engine, profile="default")
    assert 19000 not in rollup_features(engine).index  # default drops guests
    remove_batch(engine, 2)  # the latest batch's profile is online-retail again
    assert_same(engine, profile="online-retail")


def test_a_rebuild_reading_batches_in_ranges_of_lines_gives_the_same_rollup(
    engine, tmp_path, monkeypatch
):
    guests = [line(536501, "2010-12-01 10:00", customer=""),
              line(536500, "2010-12-03 11:00", customer="", qty=2),
              line(536501, "2010-12-02 09:00", customer="", qty=-1)]
    ingest_file(engine, write(tmp_path, "edges.csv", EDGES + guests), profile="online-retail")
    later = [line(536601, "2010-12-05 12:00", customer=""), line(536600, "2010-12-06 09:00")]
    ingest_file(engine, write(tmp_path, "later.csv", later), profile="online-retail")
    before = rollup_features(engine)
    monkeypatch.setattr(rollup_merge, "PIECE_ROWS", 2)  # guest invoices across ranges
    with engine.begin() as connection:
        outcome = rebuild(connection, "online-retail")
    assert (outcome.n_batches, outcome.n_rows) == (2, 17)
    pd.testing.assert_frame_equal(rollup_features(engine), before, check_exact=True)
    assert_same(engine, dates=(None, "2010-12-02", "2010-12-05"))


def test_an_unknown_profile_or_a_rollup_missing_batches_is_refused(engine, tmp_path):
    ingest_file(engine, write(tmp_path, "edges.csv", EDGES), profile="no-such-profile")
    with pytest.raises(RollupNotReady, match="rollup rebuild --profile"):
        rollup_features(engine)
    with engine.begin() as connection:
        rebuild(connection, "online-retail")
    assert_same(engine)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM rollup_batches"))
    with pytest.raises(RollupNotReady, match="do not cover every stored batch"):
        rollup_features(engine)
    more = [line(539000, "2010-12-06 10:00")]
    ingest_file(engine, write(tmp_path, "more.csv", more), profile="online-retail")
    assert_same(engine)  # the next ingest rebuilt it


def test_rollup_rebuild_command(tmp_path, monkeypatch):
    monkeypatch.delenv("INSIDERS_DATABASE_URL", raising=False)
    monkeypatch.setenv("INSIDERS_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    for name, lines in (("a.csv", EDGES[:6]), ("b.csv", EDGES[6:])):
        result = runner.invoke(cli, ["ingest", str(write(tmp_path, name, lines))])
        assert result.exit_code == 0, result.output
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'insiders.db'}")
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM customer_days"))
    result = runner.invoke(cli, ["rollup", "rebuild"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "batch 1 of 2" in result.output and "batch 2 of 2: 12 rows read" in result.output
    assert "with the online-retail cleaning profile: 2 batches, 12 rows" in result.output
    assert_same(engine)
    result = runner.invoke(cli, ["rollup", "rebuild", "--profile", "default"])
    assert "changed from online-retail to default" in result.output
    assert_same(engine, profile="default")
    result = runner.invoke(cli, ["rollup", "rebuild", "--profile", "nonsense"])
    assert result.exit_code != 0
    engine.dispose()


def test_an_empty_store_gives_no_customers_as_of_a_date(engine):
    features = rollup_features(engine, "2011-01-01")
    assert features.empty and features.index.name == "customer_id"
    assert features.dtypes["recency_days"] == "int64"
    assert features.dtypes["gross_revenue"] == "float64"
