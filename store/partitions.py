"""The partitions of a run scored in parts: ranges of customer id (``lo <= customer_id < hi``,
boundaries at quantiles of the run's customers, so each reads its slice of the rollup through
its key), one row per partition recording who works on it, its heartbeat and, once done, its
counts. Besides the ranges, a run has its finishing jobs, taken by whichever worker is free: the
forecast check (from the rollup alone, so it runs beside the ranges), then, once every range is
scored, the silhouette and the report (from the combined labels); each records its result.

A partition's labels, events and forecasts are written under the run's id while the run is
still running: every reader reads succeeded runs only, so they become visible when the run is
published (``publish``: the run flips to succeeded in one transaction, as ``write_results``).
Writing a partition first deletes whatever an earlier attempt of it wrote, in the same
transaction that marks it done, so a redelivered or taken-over partition leaves one set of rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

import pandas as pd
from sqlalchemy import (
    JSON,
    BigInteger,
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
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from pipeline.plain import plain_value
from store import forecast_files, forecasts
from store.labels import LabelStage
from store.results import (
    RunNoLongerActive,
    publish_run_labels,
    write_clusters,
    write_events,
    write_labels,
)
from store.run_inputs import CustomerRange
from store.runs import mark_succeeded, utcnow
from store.schema import Base, MembershipEvent, Run, RunFile
from store.webhook_events import record_run_succeeded

PENDING, WORKING, DONE = "pending", "running", "done"
SCORE, CHECK, SILHOUETTE, REPORT = "score", "check", "silhouette", "report"
FINISHING = (CHECK, SILHOUETTE, REPORT)
AFTER_SCORING = (SILHOUETTE, REPORT)  # they read every customer's labels
PUBLISHING = "publishing"  # the run's progress stage while one process publishes it


class RunPartition(Base):
    """One partition of a run (a range of customers, or a finishing job): pending, running
    (``worker``, ``heartbeat_at``) or done."""

    __tablename__ = "run_partitions"

    run_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    n_partitions: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16), default=SCORE, server_default=SCORE)
    lo: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    hi: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
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


def customer_ranges(connection: Connection, as_of, *, rows: int,
                    fixed: int = 0) -> list[CustomerRange]:
    """Ranges of customer id holding about as many of the customers with a day in the rollup up
    to ``as_of`` each: ``fixed`` ranges when set, else one per ``rows`` customers (fewer when
    there are fewer customers; one at least); the first and last are open, so every customer
    falls in exactly one."""
    ids = connection.execute(
        text("SELECT DISTINCT customer_id FROM customer_days WHERE day <= :as_of "
             "ORDER BY customer_id"), {"as_of": as_of},
    ).scalars().all()
    n = partition_count(len(ids), rows=rows, fixed=fixed)
    cuts = sorted({int(ids[len(ids) * i // n]) for i in range(1, n)} if ids else set())
    bounds = [None, *cuts, None]
    return [CustomerRange(lo, hi) for lo, hi in pairwise(bounds)]


def create_partitions(session: Session, run_id: int, ranges: list[CustomerRange]) -> list[int]:
    """The run's ranges (partitions 0 .. n-1) and finishing jobs (n ..), all pending; returns
    the partitions, the forecast check first."""
    session.execute(delete(RunPartition).where(RunPartition.run_id == run_id))
    n = len(ranges)
    rows = [{"partition": p, "kind": SCORE, "lo": r.lo, "hi": r.hi}
            for p, r in enumerate(ranges)]
    rows += [{"partition": n + i, "kind": kind, "lo": None, "hi": None}
             for i, kind in enumerate(FINISHING)]
    session.execute(insert(RunPartition), [
        {**row, "run_id": run_id, "n_partitions": n, "status": PENDING, "attempts": 0,
         "summary": {}} for row in rows
    ])
    return [n, *range(n), *range(n + 1, n + len(FINISHING))]


def _claimable(run_id: int, stale_before: datetime):
    unscored = select(RunPartition.partition).where(
        RunPartition.run_id == run_id, RunPartition.kind == SCORE, RunPartition.status != DONE,
    ).exists()
    return and_(
        or_(RunPartition.status == PENDING,
            and_(RunPartition.status == WORKING, RunPartition.heartbeat_at < stale_before)),
        or_(RunPartition.kind.not_in(AFTER_SCORING), ~unscored),
    )


def claim(session: Session, run_id: int, partition: int, *, worker: str,
          stale_before: datetime) -> int | None:
    """Take the partition if it is pending or its worker went silent (heartbeat before
    ``stale_before``), and, for the silhouette and the report, every range is scored; returns
    the attempt number, or None (done, someone works on it, or not yet)."""
    result = session.execute(
        update(RunPartition)
        .where(RunPartition.run_id == run_id, RunPartition.partition == partition,
               _claimable(run_id, stale_before))
        .values(status=WORKING, attempts=RunPartition.attempts + 1, worker=worker[:200],
                heartbeat_at=utcnow())
        .returning(RunPartition.attempts)
    ).first()
    return None if result is None else int(result[0])


def claim_next(session: Session, run_id: int, *, worker: str,
               stale_before: datetime) -> tuple[int, int] | None:
    """Take any claimable partition of the run (the forecast check first, then the ranges
    lowest first, then the rest): (partition, attempt) or None."""
    candidates = session.scalars(
        select(RunPartition.partition)
        .where(RunPartition.run_id == run_id, _claimable(run_id, stale_before))
        .order_by(RunPartition.kind != CHECK, RunPartition.kind != SCORE,
                  RunPartition.partition)
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
    row = _lock(session, run_id, partition)
    if row.status == DONE:
        return False
    connection = session.connection()
    discard_rows(connection, run_id, partition=CustomerRange(row.lo, row.hi))
    write_labels(connection, run_id, labels)
    write_events(connection, run_id, events, previous_run_id=previous_run_id)
    if ahead is not None:
        forecasts.write_forecasts(connection, run_id, ahead)
    _done(session, run_id, partition, summary, n_customers=len(labels))
    return True


def finish_job(session: Session, run_id: int, partition: int, result: dict) -> bool:
    """Record a finishing job's ``result`` and mark it done, in the caller's transaction; False
    when another attempt finished it first (RunNoLongerActive as :func:`write_partition`)."""
    if _lock(session, run_id, partition).status == DONE:
        return False
    _done(session, run_id, partition, result)
    return True


def _lock(session: Session, run_id: int, partition: int):
    row = session.execute(
        select(RunPartition.status, RunPartition.lo, RunPartition.hi)
        .where(RunPartition.run_id == run_id, RunPartition.partition == partition)
        .with_for_update()
    ).first()
    running = session.execute(
        select(Run.id).where(Run.id == run_id, Run.status == "running").with_for_update(read=True)
    ).first()
    if running is None or row is None:
        raise RunNoLongerActive(f"run {run_id} is no longer running; partition not written")
    return row


def _done(session: Session, run_id: int, partition: int, summary: dict,
          n_customers: int | None = None) -> None:
    session.execute(
        update(RunPartition)
        .where(RunPartition.run_id == run_id, RunPartition.partition == partition)
        .values(status=DONE, finished_at=utcnow(), n_customers=n_customers,
                summary=plain_value(summary))
    )


def job(connection: Connection, run_id: int, partition: int) -> tuple[str, CustomerRange]:
    """A partition's kind and, for a range, its customers."""
    row = connection.execute(
        select(RunPartition.kind, RunPartition.lo, RunPartition.hi)
        .where(RunPartition.run_id == run_id, RunPartition.partition == partition)
    ).one()
    return row.kind, CustomerRange(row.lo, row.hi)


def discard_rows(connection: Connection, run_id: int,
                 partition: CustomerRange | None = None) -> None:
    """Delete the run's staged labels, events and forecasts, rows and files (of one range of
    customers only, if given)."""
    for table in (LabelStage.__table__, MembershipEvent.__table__,
                  forecasts.Forecast.__table__):
        where = [table.c.run_id == run_id]
        if partition is not None and partition.lo is not None:
            where.append(table.c.customer_id >= partition.lo)
        if partition is not None and partition.hi is not None:
            where.append(table.c.customer_id < partition.hi)
        connection.execute(delete(table).where(*where))
    first, last = forecast_files.file_names_between(
        *((None, None) if partition is None else (partition.lo, partition.hi)))
    connection.execute(delete(RunFile).where(
        RunFile.run_id == run_id, RunFile.name.startswith(forecast_files.FILE_PREFIX),
        RunFile.name >= first, RunFile.name < last))


def status(connection: Connection, run_id: int, kinds: tuple[str, ...] = (SCORE,)
           ) -> dict[str, int]:
    """How many of the run's ranges (or partitions of ``kinds``) are pending, running and done
    (and in all)."""
    rows = connection.execute(
        select(RunPartition.status, func.count())
        .where(RunPartition.run_id == run_id, RunPartition.kind.in_(kinds))
        .group_by(RunPartition.status)
    ).all()
    counts = {PENDING: 0, WORKING: 0, DONE: 0, **{s: int(n) for s, n in rows}}
    counts["total"] = sum(counts[s] for s in (PENDING, WORKING, DONE))
    return counts


def summaries(connection: Connection, run_id: int) -> list[dict]:
    """Each done range's summary (with its partition and customer count), in order."""
    rows = connection.execute(
        select(RunPartition.partition, RunPartition.n_customers, RunPartition.summary)
        .where(RunPartition.run_id == run_id, RunPartition.status == DONE,
               RunPartition.kind == SCORE)
        .order_by(RunPartition.partition)
    ).all()
    return [{**(summary or {}), "partition": p, "n_customers": n} for p, n, summary in rows]


def job_results(connection: Connection, run_id: int) -> dict[str, dict]:
    """The done finishing jobs' results, by kind."""
    rows = connection.execute(
        select(RunPartition.kind, RunPartition.summary)
        .where(RunPartition.run_id == run_id, RunPartition.status == DONE,
               RunPartition.kind.in_(FINISHING))
    ).all()
    return {kind: summary or {} for kind, summary in rows}


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
    """Flip the run to succeeded with ``values`` (the columns of ``runs``), write its clusters
    and turn its staged labels into spans, in the caller's transaction; its events and
    forecasts are written."""
    # first statement: takes the run's row lock, so the reaper cannot fail it under us
    if not mark_succeeded(session, run_id, **values):
        raise RunNoLongerActive(f"run {run_id} is no longer running; not published")
    connection = session.connection()
    write_clusters(connection, run_id, clusters)
    publish_run_labels(connection, run_id)
    record_run_succeeded(connection, run_id)


def stale_cutoff(stale_after_seconds: float) -> datetime:
    """Heartbeats before this moment belong to a worker that went silent."""
    return utcnow() - timedelta(seconds=stale_after_seconds)
