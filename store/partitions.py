"""The partitions of a run scored in parts: customers hashed by id (``customer_id % n = p``),
one row per partition recording who works on it, its heartbeat and, once done, its counts.

A partition's labels, events and forecasts are written under the run's id while the run is
still running: every reader reads succeeded runs only, so they become visible when the run is
published (``publish``: the run flips to succeeded in one transaction, as ``write_results``).
Writing a partition first deletes whatever an earlier attempt of it wrote, in the same
transaction that marks it done, so a redelivered or taken-over partition leaves one set of rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import (
    JSON,
    Connection,
    DateTime,
    ForeignKey,
    Integer,
    String,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from pipeline.plain import plain_value
from store import forecasts
from store.results import RunNoLongerActive, write_clusters, write_events, write_labels
from store.runs import mark_succeeded, utcnow
from store.schema import Base, CustomerLabel, MembershipEvent, Run
from store.webhook_events import record_run_succeeded

PENDING, WORKING, DONE = "pending", "running", "done"
PUBLISHING = "publishing"  # the run's progress stage while one process publishes it


class RunPartition(Base):
    """One partition of a run: pending, running (``worker``, ``heartbeat_at``) or done."""

    __tablename__ = "run_partitions"

    run_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    n_partitions: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                          nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    n_customers: Mapped[int | None] = mapped_column(Integer, nullable=True)
    summary: Mapped[dict] = mapped_column(JSON, default=dict)


def partition_count(n_customers: int, *, rows: int, fixed: int = 0) -> int:
    """How many partitions ``n_customers`` are scored in: ``fixed`` when set, else one per
    ``rows`` customers (at least one)."""
    if fixed > 0:
        return fixed
    return max(1, -(-int(n_customers) // max(1, int(rows))))


def create_partitions(session: Session, run_id: int, n_partitions: int) -> None:
    """Partitions 0 .. n-1 of the run, all pending."""
    session.execute(delete(RunPartition).where(RunPartition.run_id == run_id))
    session.execute(insert(RunPartition), [
        {"run_id": run_id, "partition": p, "n_partitions": n_partitions, "status": PENDING,
         "attempts": 0, "summary": {}} for p in range(n_partitions)
    ])


def _claimable(stale_before: datetime):
    return or_(RunPartition.status == PENDING,
               and_(RunPartition.status == WORKING, RunPartition.heartbeat_at < stale_before))


def claim(session: Session, run_id: int, partition: int, *, worker: str,
          stale_before: datetime) -> int | None:
    """Take the partition if it is pending or its worker went silent (heartbeat before
    ``stale_before``); returns the attempt number, or None (done, or someone works on it)."""
    result = session.execute(
        update(RunPartition)
        .where(RunPartition.run_id == run_id, RunPartition.partition == partition,
               _claimable(stale_before))
        .values(status=WORKING, attempts=RunPartition.attempts + 1, worker=worker[:200],
                heartbeat_at=utcnow())
        .returning(RunPartition.attempts)
    ).first()
    return None if result is None else int(result[0])


def claim_next(session: Session, run_id: int, *, worker: str,
               stale_before: datetime) -> tuple[int, int] | None:
    """Take any claimable partition of the run (lowest first): (partition, attempt) or None."""
    candidates = session.scalars(
        select(RunPartition.partition)
        .where(RunPartition.run_id == run_id, _claimable(stale_before))
        .order_by(RunPartition.partition)
    ).all()
    for partition in candidates:
        attempt = claim(session, run_id, partition, worker=worker, stale_before=stale_before)
        if attempt is not None:
            return int(partition), attempt
    return None


def beat(session: Session, run_id: int, partition: int, attempt: int) -> bool:
    """Stamp the partition's and the run's heartbeat; False when the attempt was taken over or
    the run is no longer running."""
    now = utcnow()
    mine = session.execute(
        update(RunPartition)
        .where(RunPartition.run_id == run_id, RunPartition.partition == partition,
               RunPartition.status == WORKING, RunPartition.attempts == attempt)
        .values(heartbeat_at=now)
    ).rowcount == 1
    alive = session.execute(
        update(Run).where(Run.id == run_id, Run.status == "running").values(heartbeat_at=now)
    ).rowcount == 1
    return mine and alive


def write_partition(
    session: Session, run_id: int, partition: int, *, labels: pd.DataFrame,
    events: pd.DataFrame, ahead: pd.DataFrame | None, summary: dict,
    previous_run_id: int | None,
) -> bool:
    """Replace the partition's rows with these and mark it done, in the caller's transaction;
    False (nothing written) when another attempt finished it first. Raises RunNoLongerActive
    when the run is no longer running (reaped meanwhile)."""
    row = session.execute(
        select(RunPartition.status, RunPartition.n_partitions)
        .where(RunPartition.run_id == run_id, RunPartition.partition == partition)
        .with_for_update()
    ).first()
    running = session.execute(
        select(Run.id).where(Run.id == run_id, Run.status == "running").with_for_update(read=True)
    ).first()
    if running is None or row is None:
        raise RunNoLongerActive(f"run {run_id} is no longer running; partition not written")
    if row.status == DONE:
        return False
    connection = session.connection()
    discard_rows(connection, run_id, partition=(partition, int(row.n_partitions)))
    write_labels(connection, run_id, labels)
    write_events(connection, run_id, events, previous_run_id=previous_run_id)
    if ahead is not None:
        forecasts.write_forecasts(connection, run_id, ahead)
    session.execute(
        update(RunPartition)
        .where(RunPartition.run_id == run_id, RunPartition.partition == partition)
        .values(status=DONE, finished_at=utcnow(), n_customers=len(labels),
                summary=plain_value(summary))
    )
    return True


def discard_rows(connection: Connection, run_id: int,
                 partition: tuple[int, int] | None = None) -> None:
    """Delete the run's labels, events and forecasts (of one (partition, n) only, if given)."""
    for table in (CustomerLabel.__table__, MembershipEvent.__table__,
                  forecasts.Forecast.__table__):
        where = [table.c.run_id == run_id]
        if partition is not None:
            where.append(table.c.customer_id % partition[1] == partition[0])
        connection.execute(delete(table).where(*where))


def status(connection: Connection, run_id: int) -> dict[str, int]:
    """How many of the run's partitions are pending, running and done (and in all)."""
    rows = connection.execute(
        select(RunPartition.status, func.count())
        .where(RunPartition.run_id == run_id).group_by(RunPartition.status)
    ).all()
    counts = {PENDING: 0, WORKING: 0, DONE: 0, **{s: int(n) for s, n in rows}}
    counts["total"] = sum(counts[s] for s in (PENDING, WORKING, DONE))
    return counts


def summaries(connection: Connection, run_id: int) -> list[dict]:
    """Each done partition's summary (with its partition and customer count), in order."""
    rows = connection.execute(
        select(RunPartition.partition, RunPartition.n_customers, RunPartition.summary)
        .where(RunPartition.run_id == run_id, RunPartition.status == DONE)
        .order_by(RunPartition.partition)
    ).all()
    return [{**(summary or {}), "partition": p, "n_customers": n} for p, n, summary in rows]


def claim_publication(session: Session, run_id: int) -> bool:
    """Whether this process publishes the run (every partition done, nobody publishing yet)."""
    undone = select(RunPartition.partition).where(RunPartition.run_id == run_id,
                                                  RunPartition.status != DONE).exists()
    return session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == "running",
               func.coalesce(Run.progress_stage, "") != PUBLISHING, ~undone)
        .values(progress_stage=PUBLISHING, heartbeat_at=utcnow())
    ).rowcount == 1


def publish(session: Session, run_id: int, values: dict, clusters: pd.DataFrame) -> None:
    """Flip the run to succeeded with ``values`` (the columns of ``runs``) and write its
    clusters, in the caller's transaction; its labels, events and forecasts are written."""
    # first statement: takes the run's row lock, so the reaper cannot fail it under us
    if not mark_succeeded(session, run_id, **values):
        raise RunNoLongerActive(f"run {run_id} is no longer running; not published")
    connection = session.connection()
    write_clusters(connection, run_id, clusters)
    record_run_succeeded(connection, run_id)


def stale_cutoff(stale_after_seconds: float) -> datetime:
    """Heartbeats before this moment belong to a worker that went silent."""
    return utcnow() - timedelta(seconds=stale_after_seconds)
