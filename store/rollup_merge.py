"""A batch's rollup gathered piece by piece (:class:`pipeline.rollup.PartialRollup`) in
temporary tables, then merged into ``customer_days`` in one statement, so ingest holds one
piece of a file in memory at a time, whatever the file's size.

The merge does what :func:`pipeline.rollup.daily_rollup` does over the whole batch: the pieces'
sums are summed, an invoice counts on its least day over the pieces, and guests are numbered
from the batch's first guest id in order of their invoice's first line. A guest whose id the
profile excludes is dropped, as :func:`pipeline.clean.clean_transactions` drops it.
:func:`stored_stats` gives what guest numbering needs of every stored batch. A rebuild adds
each stored batch the same way (:func:`add_stored`), reading its rows by ranges of lines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, func, select, text

from pipeline.clean import CleaningProfile
from pipeline.columns import CANONICAL_COLUMNS
from pipeline.ingest import PIECE_ROWS
from pipeline.rollup import (
    PURCHASE,
    RETURN,
    ROLLUP_COLUMNS,
    GuestStats,
    PartialRollup,
    partial_rollup,
)
from store.bulk import copy_out, insert_frame
from store.schema import Transaction, TransactionBatch

_SUMS = ("lines", "purchase_lines", "items", "revenue_micro", "returned_items", "returns_micro")
_ROWS = ("line_no", *CANONICAL_COLUMNS)
_ROW_TYPES = {
    "line_no": pa.int64(), "invoice_no": pa.string(), "stock_code": pa.string(),
    "description": pa.string(), "quantity": pa.int64(), "invoice_date": pa.timestamp("us"),
    "unit_price": pa.float64(), "customer_id": pa.int64(), "country": pa.string(),
}
_TABLES = {
    "stream_days": "customer_id BIGINT, guest_invoice VARCHAR(32), day INTEGER, "
    + ", ".join(f"{name} BIGINT" for name in _SUMS),
    "stream_firsts": "customer_id BIGINT, invoice_no VARCHAR(32), kind SMALLINT, day INTEGER",
    "stream_guests": "invoice_no VARCHAR(32), first_line BIGINT",
}


def start(connection: Connection) -> None:
    """Empty temporary tables for one batch's pieces (dropped at commit on PostgreSQL)."""
    postgres = connection.dialect.name == "postgresql"
    for name, columns in (*_TABLES.items(), ("stream_guest_ids", "")):
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
        if columns:
            tail = " ON COMMIT DROP" if postgres else ""
            connection.exec_driver_sql(f"CREATE TEMP TABLE {name} ({columns}){tail}")


def add(connection: Connection, piece: PartialRollup) -> None:
    """Keep one piece's partial rollup for :func:`merge`."""
    insert_frame(connection, "stream_days", piece.days)
    insert_frame(connection, "stream_firsts", piece.firsts)
    insert_frame(connection, "stream_guests", piece.guests)


def guest_invoices(connection: Connection) -> int:
    """Number the batch's guest invoices by first line; returns how many there are."""
    tail = " ON COMMIT DROP" if connection.dialect.name == "postgresql" else ""
    connection.exec_driver_sql(
        f"CREATE TEMP TABLE stream_guest_ids{tail} AS SELECT invoice_no,"
        " ROW_NUMBER() OVER (ORDER BY MIN(first_line)) - 1 AS ordinal"
        " FROM stream_guests GROUP BY invoice_no"
    )
    return int(connection.exec_driver_sql("SELECT COUNT(*) FROM stream_guest_ids").scalar_one())


def merge(connection: Connection, first_guest: int | None, excluded: frozenset[int]) -> None:
    """Add the pieces' rollup to ``customer_days``; guests get ids from ``first_guest``."""
    first = "NULL" if first_guest is None else str(int(first_guest))
    guest_id = f"COALESCE(s.customer_id, {first} + g.ordinal)"
    sums = ", ".join(f"SUM(s.{name}) AS {name}" for name in _SUMS)
    counts = ", ".join(
        f"SUM(CASE WHEN kind = {kind} THEN 1 ELSE 0 END) AS {name}"
        for kind, name in ((PURCHASE, "invoices"), (RETURN, "return_invoices"))
    )
    if connection.dialect.name == "postgresql":
        day = "DATE '1970-01-01' + d.day"
    else:  # SQLAlchemy's SQLite Date text
        day = "date(d.day * 86400, 'unixepoch')"
    keep = "TRUE"
    if excluded:
        keep = f"d.customer_id NOT IN ({', '.join(str(int(c)) for c in sorted(excluded))})"
    names = ", ".join(("customer_id", "day", *ROLLUP_COLUMNS))
    values = ", ".join(
        f"COALESCE(f.{c}, 0)" if c in ("invoices", "return_invoices") else f"d.{c}"
        for c in ROLLUP_COLUMNS
    )
    updates = ", ".join(f"{c} = customer_days.{c} + excluded.{c}" for c in ROLLUP_COLUMNS)
    connection.exec_driver_sql(
        f"INSERT INTO customer_days ({names}) SELECT d.customer_id, {day}, {values} FROM ("
        f"  SELECT {guest_id} AS customer_id, s.day AS day, {sums} FROM stream_days s"
        "   LEFT JOIN stream_guest_ids g"
        "     ON s.customer_id IS NULL AND g.invoice_no = s.guest_invoice"
        "   GROUP BY 1, 2) d"
        f" LEFT JOIN (SELECT customer_id, day, {counts} FROM ("
        f"   SELECT {guest_id} AS customer_id, s.invoice_no, s.kind, MIN(s.day) AS day"
        "    FROM stream_firsts s LEFT JOIN stream_guest_ids g"
        "      ON s.customer_id IS NULL AND g.invoice_no = s.invoice_no"
        "    GROUP BY 1, 2, 3) first_days GROUP BY customer_id, day) f"
        "   ON f.customer_id = d.customer_id AND f.day = d.day"
        f" WHERE {keep}"
        f" ON CONFLICT (customer_id, day) DO UPDATE SET {updates}"
    )


def stored_stats(connection: Connection, start: int | None) -> list[GuestStats]:
    """:class:`GuestStats` of every batch, from the stored rows, in one query."""
    t = Transaction
    guest_invoice = func.count(func.distinct(
        text("CASE WHEN transactions.customer_id IS NULL THEN transactions.invoice_no END")
    ))
    from_start = func.min(text(
        "CASE WHEN transactions.customer_id >= :start THEN transactions.customer_id END"
    ).bindparams(start=start if start is not None else 2**62))
    stored = (
        select(t.batch_id, guest_invoice.label("g"), func.max(t.customer_id).label("m"),
               from_start.label("f"))
        .group_by(t.batch_id)
        .subquery()
    )
    query = (
        select(TransactionBatch.id, stored.c.g, stored.c.m, stored.c.f)
        .outerjoin(stored, stored.c.batch_id == TransactionBatch.id)
        .order_by(TransactionBatch.id)
    )
    return [
        GuestStats(batch_id=row[0], guest_invoices=int(row[1] or 0), max_customer_id=row[2],
                   min_id_from_start=row[3] if start is not None else None)
        for row in connection.execute(query)
    ]


def add_stored(
    connection: Connection, batch_id: int, cleaning: CleaningProfile, first_guest: int | None
) -> int:
    """Add batch ``batch_id``'s rollup from its rows read by ranges of lines and merged as
    ingest merges its pieces, so memory does not grow with the batch; returns its rows."""
    last = connection.execute(
        select(func.max(Transaction.line_no)).where(Transaction.batch_id == batch_id)
    ).scalar_one()
    start(connection)
    n_rows = 0
    for low in range(0, -1 if last is None else last + 1, PIECE_ROWS):
        where = f"batch_id = {int(batch_id)} AND line_no >= {low} AND line_no < {low + PIECE_ROWS}"
        rows = read_rows(connection, where, renumber=False)  # first lines as stored
        n_rows += len(rows)
        if len(rows):
            add(connection, partial_rollup(rows, cleaning))
    guest_invoices(connection)
    merge(connection, first_guest, cleaning.excluded_customers)
    return n_rows


def read_rows(connection: Connection, where: str, *, renumber: bool = True) -> pd.DataFrame:
    """Stored rows matching ``where``, in (batch, line) order, as ingest left them; their
    ``line_no`` renumbered from 0 in that order unless ``renumber`` is false."""
    query = f"SELECT {', '.join(_ROWS)} FROM transactions WHERE {where}"
    if connection.dialect.name == "postgresql":
        table = copy_out(connection, f"{query} ORDER BY batch_id, line_no", _ROW_TYPES)
        frame = table.to_pandas()
        frame["invoice_date"] = frame["invoice_date"].astype("datetime64[ns]")
    else:
        frame = pd.read_sql_query(f"{query} ORDER BY batch_id, line_no", connection)
        frame["invoice_date"] = pd.to_datetime(frame["invoice_date"], format="ISO8601")
    frame["customer_id"] = frame["customer_id"].astype("Int64")
    if renumber:
        frame["line_no"] = np.arange(len(frame), dtype="int64")
    return frame
