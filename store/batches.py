"""The batches of transactions in the store: what each holds, and removing one.

Runs read the transactions from the store, so removing a batch's rows (and taking them out of
the daily rollup, in the same transaction) is all it takes for the next run to be computed
without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, func, select

from store import rollup
from store.schema import BATCH_INVOICES, Transaction, TransactionBatch
from store.transactions import lock_invoices

_STORED = ("n_stored", "n_invoices", "first_date", "last_date")


@dataclass(frozen=True)
class BatchContents:
    """A batch as loaded (counts from the file) and as stored (rows, invoices, dates)."""

    batch_id: int
    filename: str
    loaded_at: datetime
    profile: str
    n_rows: int
    n_accepted: int
    n_rejected: int
    n_already_loaded: int
    n_stored: int
    n_invoices: int
    first_date: datetime | None
    last_date: datetime | None


def list_batches(engine: Engine) -> list[BatchContents]:
    """Every batch, oldest first."""
    with engine.connect() as connection:
        return _contents(connection, None)


def remove_batch(engine: Engine, batch_id: int) -> BatchContents | None:
    """Delete batch ``batch_id`` and its rows; return what it held, or None if there is none."""
    with engine.begin() as connection:
        found = _contents(connection, batch_id)
        if not found:
            return None
        lock_invoices(connection)  # guest numbering in the rollup: one change at a time
        rollup.remove_batch(connection, batch_id)
        connection.execute(delete(Transaction).where(Transaction.batch_id == batch_id))
        connection.execute(delete(BATCH_INVOICES).where(BATCH_INVOICES.c.batch_id == batch_id))
        connection.execute(delete(TransactionBatch).where(TransactionBatch.id == batch_id))
    return found[0]


def _contents(connection: Connection, batch_id: int | None) -> list[BatchContents]:
    stored = (
        select(
            Transaction.batch_id,
            func.count().label("n_stored"),
            func.count(func.distinct(Transaction.invoice_no)).label("n_invoices"),
            func.min(Transaction.invoice_date).label("first_date"),
            func.max(Transaction.invoice_date).label("last_date"),
        )
        .group_by(Transaction.batch_id)
    )
    batch = TransactionBatch
    if batch_id is not None:
        stored = stored.where(Transaction.batch_id == batch_id)
    stored = stored.subquery()
    query = (
        select(batch.__table__, *(stored.c[name] for name in _STORED))
        .outerjoin(stored, stored.c.batch_id == batch.id)
        .order_by(batch.id)
    )
    if batch_id is not None:
        query = query.where(batch.id == batch_id)
    rows = connection.execute(query).all()
    return [
        BatchContents(
            batch_id=row.id,
            filename=row.filename,
            loaded_at=row.loaded_at,
            profile=row.profile,
            n_rows=row.n_rows,
            n_accepted=row.n_accepted,
            n_rejected=row.n_rejected,
            n_already_loaded=row.n_already_loaded,
            n_stored=row.n_stored or 0,
            n_invoices=row.n_invoices or 0,
            first_date=row.first_date,
            last_date=row.last_date,
        )
        for row in rows
    ]
