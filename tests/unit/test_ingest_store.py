"""Ingest into the store (SQLite, as in the embedded mode): an invoice is stored once."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import create_engine, select

from settings import load_settings
from store.batches import list_batches, remove_batch
from store.schema import BATCH_INVOICES, Base
from store.transactions import ingest_file, load_transactions

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def _line(invoice: int, code: str = "85123A", qty: int = 6, day: int = 1) -> str:
    return f"{invoice},{code},HEART,{qty},2010-12-{day:02d} 08:26,2.55,{17850 + invoice % 7},UK"


def _file(tmp_path, name: str, lines: list[str]):
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def _accounted(outcome) -> None:
    assert outcome.n_rows == outcome.n_accepted + outcome.n_rejected + outcome.n_already_loaded


def test_an_overlapping_export_adds_only_its_new_invoices(engine, tmp_path):
    monday = [_line(536000 + i, day=1 + i // 40) for i in range(100)]
    tuesday = monday[:60] + [_line(537000 + i, day=5) for i in range(40)]
    first = ingest_file(engine, _file(tmp_path, "monday.csv", monday), profile="default")
    second = ingest_file(engine, _file(tmp_path, "tuesday.csv", tuesday), profile="default")
    _accounted(first)
    _accounted(second)
    assert (first.n_accepted, first.n_already_loaded) == (100, 0)
    assert (second.n_accepted, second.n_already_loaded) == (40, 60)
    stored = load_transactions(engine)
    assert len(stored) == 140
    assert not stored.duplicated(["invoice_no"]).any()


def test_the_same_rows_as_parquet_add_nothing(engine, tmp_path):
    csv = _file(tmp_path, "day.csv", [_line(536000 + i) for i in range(50)])
    ingest_file(engine, csv, profile="default")
    parquet = tmp_path / "day.parquet"
    pd.read_csv(csv, dtype=str).to_parquet(parquet)
    outcome = ingest_file(engine, parquet, profile="default")
    assert outcome.created
    assert (outcome.n_accepted, outcome.n_already_loaded) == (0, 50)
    assert len(load_transactions(engine)) == 50


def test_rows_repeated_inside_one_invoice_of_one_file_are_kept(engine, tmp_path):
    lines = [_line(536000), _line(536000), _line(536000, code="22633"), _line(536001)]
    outcome = ingest_file(engine, _file(tmp_path, "dup.csv", lines), profile="default")
    assert outcome.n_accepted == 4
    assert len(load_transactions(engine)) == 4


def test_removing_a_batch_removes_its_rows_and_says_what_it_held(engine, tmp_path):
    ingest_file(engine, _file(tmp_path, "a.csv", [_line(1), _line(1), _line(2)]), profile="p")
    ingest_file(engine, _file(tmp_path, "b.csv", [_line(2), _line(3, day=9)]), profile="p")
    batches = list_batches(engine)
    assert [(b.n_stored, b.n_invoices, b.n_already_loaded) for b in batches] == [
        (3, 2, 0),
        (1, 1, 1),
    ]
    removed = remove_batch(engine, batches[1].batch_id)
    assert (removed.n_stored, removed.n_invoices) == (1, 1)
    assert removed.first_date == removed.last_date == pd.Timestamp("2010-12-09 08:26")
    assert remove_batch(engine, batches[1].batch_id) is None
    assert sorted(load_transactions(engine)["invoice_no"]) == ["1", "1", "2"]
    # the removed invoice is new again
    again = ingest_file(engine, _file(tmp_path, "c.csv", [_line(3, day=9)]), profile="p")
    assert again.n_accepted == 1


def test_an_invoice_two_pieces_share_is_skipped_whole_by_a_later_file(engine, tmp_path):
    lines = [_line(536000 + i // 2) for i in range(9)]  # pieces of 3 lines cut invoices in two
    first = ingest_file(engine, _file(tmp_path, "a.csv", lines), profile="p", piece_rows=3)
    assert first.n_accepted == 9
    with engine.connect() as connection:
        held = connection.execute(select(BATCH_INVOICES.c.invoice_no)).scalars().all()
    assert sorted(set(held)) == [str(536000 + i) for i in range(5)]
    assert len(held) == 6  # 536001 in the first two pieces
    later = [_line(536001), _line(536003), _line(536004), _line(536009)]
    second = ingest_file(engine, _file(tmp_path, "b.csv", later), profile="p", piece_rows=2)
    assert (second.n_accepted, second.n_already_loaded) == (1, 3)


def test_values_the_columns_cannot_hold_are_rejected_by_the_store(engine, tmp_path):
    lines = [_line(1), "2,A,HEART,6,2010-12-01 08:26,2.55,17850," + "X" * 101, _line(3, qty=2**31)]
    outcome = ingest_file(engine, _file(tmp_path, "long.csv", lines), profile="p",
                          max_quantity=None)
    assert outcome.rejected_by_reason == {"country_too_long": 1, "quantity_out_of_range": 1}
    _accounted(outcome)


def test_the_maxima_are_settings():
    defaults = load_settings({})
    assert (defaults.max_unit_price, defaults.max_quantity) == (100_000, 1_000_000)
    chosen = load_settings({"INSIDERS_MAX_UNIT_PRICE": "500", "INSIDERS_MAX_QUANTITY": "20"})
    assert (chosen.max_unit_price, chosen.max_quantity) == (500, 20)


def test_the_maxima_given_reject_rows(engine, tmp_path):
    lines = [_line(1, qty=6), _line(2, qty=30)]
    outcome = ingest_file(engine, _file(tmp_path, "q.csv", lines), profile="p", max_quantity=20)
    assert outcome.rejected_by_reason == {"quantity_out_of_range": 1}
