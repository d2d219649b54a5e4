"""The migration to ``batch_invoices`` copies every stored batch's invoices in (a row per batch
and invoice), drops the index on the transactions' invoice numbers, and ingest then skips the
invoices loaded before it; the downgrade gives the index back. On PostgreSQL and SQLite."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import create_engine, inspect, text

import migrations
from store.transactions import ingest_file

pytestmark = pytest.mark.integration

BEFORE = "d7f3b9c1e5a2"  # the revision whose transactions indexed their invoice numbers
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


@pytest.fixture
def url(empty_url):
    return empty_url


def _add_batches(connection) -> None:
    for batch_id in (1, 2):  # ids 1 and 2 from the empty table's sequence
        connection.execute(text(
            "INSERT INTO transaction_batches (filename, content_sha256, profile, loaded_at, "
            "n_rows, n_accepted, n_rejected, rejected_by_reason, n_already_loaded) VALUES "
            "(:name, :sha, 'default', :at, 3, 3, 0, '{}', 0)"),
            {"name": f"{batch_id}.csv", "sha": str(batch_id) * 64,
             "at": dt.datetime(2011, 1, batch_id)})
    lines = [(1, 1, "536000"), (1, 2, "536000"), (1, 3, "536001"), (2, 1, "536002"),
             (2, 2, "536002"), (2, 3, "536002")]
    for batch_id, line_no, invoice in lines:
        connection.execute(text(
            "INSERT INTO transactions (batch_id, line_no, invoice_no, stock_code, description, "
            "quantity, invoice_date, unit_price, customer_id, country) VALUES "
            "(:b, :l, :i, '85123A', 'HEART', 6, :d, 2.55, 17850, 'UK')"),
            {"b": batch_id, "l": line_no, "i": invoice, "d": dt.datetime(2010, 12, 1, 8, 26)})


def _indexes(engine) -> set[str]:
    return {index["name"] for index in inspect(engine).get_indexes("transactions")}


def test_the_stored_invoices_are_copied_in_and_skipped_by_the_next_ingest(url, tmp_path) -> None:
    migrations.upgrade(url, BEFORE)
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            _add_batches(connection)
        assert "ix_transactions_invoice_no" in _indexes(engine)
        migrations.upgrade(url)
        with engine.connect() as connection:
            held = connection.execute(text(
                "SELECT batch_id, invoice_no FROM batch_invoices ORDER BY 1, 2")).all()
        assert [tuple(row) for row in held] == [(1, "536000"), (1, "536001"), (2, "536002")]
        assert "ix_transactions_invoice_no" not in _indexes(engine)

        path = tmp_path / "later.csv"
        path.write_text("\n".join([HEADER, "536001,A,HEART,6,2010-12-01 08:26,2.55,17850,UK",
                                   "536003,A,HEART,6,2010-12-02 08:26,2.55,17850,UK"]) + "\n")
        outcome = ingest_file(engine, path, profile="default")
        assert (outcome.n_accepted, outcome.n_already_loaded) == (1, 1)

        migrations.downgrade(url, BEFORE)
        assert "ix_transactions_invoice_no" in _indexes(engine)
        assert "batch_invoices" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
