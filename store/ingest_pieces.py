"""What ingest needs to store a file piece by piece (``store.transactions.append_batch``):
the counts over the pieces, a writer that runs the database work of one piece while the next
is read and validated, and the connection that looks up invoices stored by earlier batches.

On PostgreSQL the writer is one thread holding the batch's connection (the pieces are written
in order, at most one waits), so reading, validating and rolling up the next piece in Python
overlaps with the server's COPY of this one; the look-ups use a second connection, which sees
the earlier batches (committed before this ingest took its lock) and not this one. On SQLite
everything runs in order on the one connection.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, Engine

from pipeline.ingest import IngestResult
from pipeline.row_rules import REJECT_REASONS


@dataclass
class PieceCounts:
    """A batch's counts, summed over its pieces."""

    n_rows: int = 0
    n_valid: int = 0
    n_stored: int = 0
    rejected: Counter = field(default_factory=Counter)
    first_date: datetime | None = None
    last_date: datetime | None = None

    def read(self, piece: IngestResult) -> None:
        self.n_rows += int(piece.n_rows)
        self.n_valid += piece.n_accepted
        self.rejected.update(piece.rejected_by_reason)

    def stored(self, rows: pd.DataFrame) -> None:
        self.n_stored += len(rows)
        if len(rows):
            dates = rows["invoice_date"]
            low, high = dates.min().to_pydatetime(), dates.max().to_pydatetime()
            self.first_date = low if self.first_date is None else min(self.first_date, low)
            self.last_date = high if self.last_date is None else max(self.last_date, high)

    def values(self) -> dict:
        """The columns of the batch's row."""
        reasons = {r: int(self.rejected[r]) for r in REJECT_REASONS if self.rejected[r]}
        return {
            "n_rows": self.n_rows,
            "n_accepted": self.n_stored,
            "n_rejected": sum(reasons.values()),
            "rejected_by_reason": reasons,
            "n_already_loaded": self.n_valid - self.n_stored,
            "min_invoice_date": self.first_date,
            "max_invoice_date": self.last_date,
        }


class SerialWriter:
    """Runs the submitted calls in order, one at a time: in a thread on PostgreSQL (at most
    one waiting), at once on SQLite. An error is raised by the next :meth:`submit` or
    :meth:`close`."""

    def __init__(self, connection: Connection) -> None:
        threaded = connection.dialect.name == "postgresql"
        self._pool = ThreadPoolExecutor(1, "insiders-ingest") if threaded else None
        self._pending: Future | None = None

    def submit(self, call: Callable[..., object], *args: object) -> None:
        self._wait()
        if self._pool is None:
            call(*args)
        else:
            self._pending = self._pool.submit(call, *args)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def abandon(self) -> None:
        """Let the running call end, dropping its error (the transaction is rolled back)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def close(self) -> None:
        """Wait for the last call (raising its error), then stop the thread."""
        try:
            self._wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)


@contextmanager
def serial_writer(connection: Connection) -> Iterator[SerialWriter]:
    writer = SerialWriter(connection)
    try:
        yield writer
    except BaseException:
        writer.abandon()  # before the connection is rolled back
        raise
    writer.close()


@contextmanager
def lookup_connection(engine: Engine, connection: Connection) -> Iterator[Connection]:
    """The connection to look up stored invoices on while ``connection`` writes."""
    if connection.dialect.name != "postgresql":
        yield connection
        return
    with engine.connect() as other:
        yield other
