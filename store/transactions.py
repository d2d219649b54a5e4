"""Transaction batches: append a validated file's new invoices, load everything back.

A file's content (sha256) is loaded once; inside a new file, the rows of an invoice some batch
already holds are counted as "already loaded" and not stored again, whatever file brought the
invoice first, so an export that overlaps yesterday's adds only what is new. Rows repeated inside
one invoice of one file are kept, as the original analysis keeps them. The check and the insert
run under one lock (a PostgreSQL advisory lock; SQLite's write lock, taken by the batch's insert),
so two loads of overlapping files at once cannot both store an invoice. The same transaction adds
the new rows to the per-customer daily rollup (``store.rollup``).

Bulk writes use PostgreSQL ``COPY ... FROM STDIN`` (psycopg 3, in the binary format built by
Arrow, see ``store.bulk`` and ``store.copy_binary``) and a plain ``executemany`` on SQLite; reads
use ``COPY ... TO STDOUT``. Each piece's invoice numbers go to ``batch_invoices``, where later
files look them up.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, Engine, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from pipeline.columns import CANONICAL_COLUMNS
from pipeline.ingest import DEFAULT_LIMITS, PIECE_ROWS, IngestResult, read_transaction_pieces
from pipeline.row_rules import TEXT_COLUMNS, RowLimits
from store import rollup
from store.bulk import copy_out, insert_frame
from store.ingest_pieces import PieceCounts, lookup_connection, serial_writer
from store.runs import utcnow
from store.schema import BATCH_INVOICES, Transaction, TransactionBatch

STORED_COLUMNS = ("line_no", *CANONICAL_COLUMNS)
INTEGER_MAX = 2**31 - 1  # PostgreSQL integer, the type of transactions.quantity
_INGEST_LOCK = 0x1A5_1DE5  # advisory lock key: one ingest at a time decides what is new
LOADED_TYPES = {
    "batch_id": pa.int64(),
    "line_no": pa.int64(),
    "invoice_no": pa.string(),
    "stock_code": pa.string(),
    "description": pa.string(),
    "quantity": pa.int64(),
    "invoice_date": pa.timestamp("us"),
    "unit_price": pa.float64(),
    "customer_id": pa.int64(),
    "country": pa.string(),
}


@dataclass
class BatchOutcome:
    """What ``ingest_file`` did: a new batch, or the batch that already holds this content."""

    batch_id: int
    created: bool
    filename: str
    n_rows: int
    n_accepted: int
    n_rejected: int
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    loaded_at: datetime | None = None
    n_already_loaded: int = 0


def content_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_batch(connection: Connection, sha256: str):
    """The batch row holding content ``sha256``, or None."""
    return connection.execute(
        select(TransactionBatch.__table__).where(TransactionBatch.content_sha256 == sha256)
    ).first()


def _outcome(row, created: bool) -> BatchOutcome:
    return BatchOutcome(
        batch_id=row.id,
        created=created,
        filename=row.filename,
        n_rows=row.n_rows,
        n_accepted=row.n_accepted,
        n_rejected=row.n_rejected,
        rejected_by_reason=dict(row.rejected_by_reason or {}),
        loaded_at=row.loaded_at,
        n_already_loaded=row.n_already_loaded,
    )


def ingest_file(
    engine: Engine,
    path: str | Path,
    *,
    profile: str,
    column_map: dict[str, str] | None = None,
    encoding: str | None = None,
    max_unit_price: float | None = DEFAULT_LIMITS.max_unit_price,
    max_quantity: float | None = DEFAULT_LIMITS.max_quantity,
    piece_rows: int = PIECE_ROWS,
) -> BatchOutcome:
    """Validate ``path`` with the pipeline's ingest and append its new invoices as one batch,
    ``piece_rows`` rows of a Parquet or CSV file at a time (memory does not grow with the file).

    Raises IngestError (nothing written) when the file cannot be read as transactions.
    The same content a second time returns the existing batch with ``created=False``.
    Values the columns cannot hold, and quantities or prices above the maxima, reject their row.
    """
    path = Path(path)
    sha256 = content_sha256(path)
    with engine.connect() as connection:
        existing = find_batch(connection, sha256)
    if existing is not None:
        return _outcome(existing, created=False)
    limits = stored_limits(max_unit_price=max_unit_price, max_quantity=max_quantity)
    pieces = read_transaction_pieces(
        path, column_map=column_map, encoding=encoding, limits=limits, rows=piece_rows
    )
    return append_batch(engine, pieces, filename=path.name, sha256=sha256, profile=profile)


def append_batch(
    engine: Engine,
    result: IngestResult | Iterable[IngestResult],
    *,
    filename: str,
    sha256: str,
    profile: str,
) -> BatchOutcome:
    """Store the rows of invoices not stored yet of ``result`` (one file's validated rows, or
    its pieces in order) as a new batch of content ``sha256``, with its rollup, in one
    transaction. The first piece is read before anything is written (its IngestError
    leaves the store as it was)."""
    pieces = iter([result]) if isinstance(result, IngestResult) else iter(result)
    first = next(pieces)
    try:
        with engine.begin() as connection:
            lock_invoices(connection)
            batch_id = _insert_batch(connection, filename, sha256, profile)
            counts = store_pieces(engine, connection, batch_id, profile, chain([first], pieces))
            _record_counts(connection, batch_id, counts)
    except IntegrityError:
        # another process loaded the same content between our check and our insert
        with engine.connect() as connection:
            existing = find_batch(connection, sha256)
        if existing is None:
            raise
        return _outcome(existing, created=False)
    with engine.connect() as connection:
        return _outcome(find_batch(connection, sha256), created=True)


def store_pieces(
    engine: Engine, connection: Connection, batch_id: int, profile: str,
    pieces: Iterable[IngestResult],
) -> PieceCounts:
    """Store each piece's rows of invoices no other batch holds, and the batch's rollup."""
    counts = PieceCounts()
    batch = rollup.BatchRollup(connection, batch_id, profile)
    with serial_writer(connection) as writer, lookup_connection(engine, connection) as lookup:
        for piece in pieces:
            counts.read(piece)
            fresh = without_stored_invoices(lookup, piece.transactions, batch_id)
            counts.stored(fresh)
            part = batch.piece(fresh)
            writer.submit(_write_piece, batch, batch_id, fresh, part)
    batch.finish()
    return counts


def _write_piece(batch: rollup.BatchRollup, batch_id: int, rows: pd.DataFrame, part) -> None:
    write_transactions(batch.connection, batch_id, rows)
    batch.store(part)


def stored_limits(
    *, max_unit_price: float | None, max_quantity: float | None
) -> RowLimits:
    """Ingest's row limits: the given maxima, and what the transactions table's columns hold."""
    columns = Transaction.__table__.c
    lengths = tuple((name, columns[name].type.length) for name in TEXT_COLUMNS)
    quantity = INTEGER_MAX if max_quantity is None else min(max_quantity, INTEGER_MAX)
    return RowLimits(max_quantity=quantity, max_unit_price=max_unit_price, max_length=lengths)


def lock_invoices(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(_INGEST_LOCK)))


def _insert_batch(connection: Connection, filename: str, sha256: str, profile: str) -> int:
    row = {
        "filename": filename[:500],
        "content_sha256": sha256,
        "profile": profile,
        "loaded_at": utcnow(),
        "n_rows": 0,
        "n_accepted": 0,
        "n_rejected": 0,
        "rejected_by_reason": {},
    }
    inserted = connection.execute(
        insert(TransactionBatch.__table__).values(**row).returning(TransactionBatch.id)
    )
    return int(inserted.scalar_one())


def without_stored_invoices(
    connection: Connection, frame: pd.DataFrame, batch_id: int
) -> pd.DataFrame:
    """``frame`` without the rows of invoices that a batch other than ``batch_id`` holds."""
    if frame.empty:
        return frame
    numbers = pd.unique(frame["invoice_no"].to_numpy(dtype=object))
    stored = stored_invoices(connection, list(numbers), batch_id)
    if not stored:
        return frame
    return frame.loc[~frame["invoice_no"].isin(stored)]


def stored_invoices(
    connection: Connection, numbers: list[str], batch_id: int | None = None
) -> set[str]:
    """The invoice numbers among ``numbers`` that the store holds (in a batch but ``batch_id``)."""
    other = -1 if batch_id is None else int(batch_id)
    if connection.dialect.name == "postgresql":
        query = text(
            "SELECT DISTINCT invoice_no FROM batch_invoices"
            " WHERE invoice_no = ANY(:numbers) AND batch_id <> :batch"
        )
        return set(connection.execute(query, {"numbers": numbers, "batch": other}).scalars())
    column = BATCH_INVOICES.c.invoice_no
    found: set[str] = set()
    for start in range(0, len(numbers), 500):
        query = select(column).distinct().where(
            column.in_(numbers[start : start + 500]), BATCH_INVOICES.c.batch_id != other
        )
        found.update(connection.execute(query).scalars())
    return found


def _record_counts(connection: Connection, batch_id: int, counts: PieceCounts) -> None:
    table = TransactionBatch.__table__
    connection.execute(update(table).where(table.c.id == batch_id).values(**counts.values()))


def write_transactions(connection: Connection, batch_id: int, frame: pd.DataFrame) -> int:
    """Append ``frame`` (line_no + canonical columns) to batch ``batch_id``, and its invoices
    to those the batch holds; returns rows."""
    if frame.empty:
        return 0
    table = frame.loc[:, list(STORED_COLUMNS)].copy()
    table.insert(0, "batch_id", batch_id)
    invoices = pd.DataFrame({"batch_id": batch_id,
                             "invoice_no": pd.unique(table["invoice_no"].to_numpy(dtype=object))})
    insert_frame(connection, BATCH_INVOICES.name, invoices, columns=BATCH_INVOICES)
    return insert_frame(connection, "transactions", table, columns=Transaction.__table__)


def count_transactions(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(Transaction)).scalar_one())


def max_invoice_date(connection: Connection) -> datetime | None:
    """The latest stored invoice date: each batch records its own (no index on the rows)."""
    latest = func.max(TransactionBatch.max_invoice_date)
    return connection.execute(select(latest)).scalar_one()


def latest_profile(connection: Connection) -> str | None:
    """The cleaning profile named by the most recent batch."""
    return connection.execute(
        select(TransactionBatch.profile).order_by(TransactionBatch.id.desc()).limit(1)
    ).scalar_one_or_none()


def load_transactions(engine: Engine) -> pd.DataFrame:
    """Every stored line, in load order, as the pipeline expects them.

    ``line_no`` is renumbered 0..n-1 over all batches in (batch, line) order, so positions
    stay unique and keep the order in which lines first appeared.
    """
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            names = ", ".join(LOADED_TYPES)
            # unordered: sorting here is cheaper than PostgreSQL's sort spilling to disk
            table = copy_out(connection, f"SELECT {names} FROM transactions", LOADED_TYPES)
            return _canonical_arrow(table)
        query = f"SELECT {', '.join(STORED_COLUMNS)} FROM transactions ORDER BY batch_id, line_no"
        return _canonical(pd.read_sql_query(query, connection))


def _canonical_arrow(table: pa.Table) -> pd.DataFrame:
    order = np.lexsort(
        (table.column("line_no").to_numpy(), table.column("batch_id").to_numpy())
    )
    table = table.take(order)

    def text(name: str) -> pd.Series:
        # pandas' text type: missing values are NaN, exactly as ingest leaves them
        return table.column(name).to_pandas().astype("str")

    return pd.DataFrame(
        {
            "line_no": np.arange(table.num_rows, dtype="int64"),
            "invoice_no": text("invoice_no"),
            "stock_code": text("stock_code"),
            "description": text("description"),
            "quantity": table.column("quantity").to_numpy(),
            "invoice_date": table.column("invoice_date").to_pandas().astype("datetime64[ns]"),
            "unit_price": table.column("unit_price").to_numpy(),
            "customer_id": _nullable_int(table.column("customer_id")),
            "country": text("country"),
        }
    )


def _nullable_int(column: pa.ChunkedArray) -> pd.arrays.IntegerArray:
    values = column.fill_null(0).to_numpy()
    return pd.arrays.IntegerArray(values, column.is_null().to_numpy())


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "line_no": pd.RangeIndex(len(frame)).to_numpy(dtype="int64"),
            "invoice_no": frame["invoice_no"].astype(str),
            "stock_code": frame["stock_code"].astype(str),
            "description": frame["description"].astype("str"),
            "quantity": frame["quantity"].astype("int64"),
            "invoice_date": pd.to_datetime(frame["invoice_date"], format="ISO8601").astype(
                "datetime64[ns]"
            ),
            "unit_price": frame["unit_price"].astype("float64"),
            "customer_id": frame["customer_id"].astype("Int64"),
            "country": frame["country"].astype("str"),
        }
    )
    out["description"] = out["description"].where(frame["description"].notna(), pd.NA)
    out["country"] = out["country"].where(frame["country"].notna(), pd.NA)
    return out
