"""Runs: create, claim, progress, heartbeat, finish or fail, and find the current one.

Status changes are conditional updates (``WHERE status = ...``), so two processes racing on
the same run cannot both win: claiming a queued run, failing a stale one and marking a run
succeeded each apply only to the state they expect.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from store.schema import ACTIVE_STATUSES, RUN_TRIGGERS, UNCHANGED, Run

ERROR_MAX_CHARS = 4000


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes; every time Insiders stores is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def create_run(
    session: Session,
    *,
    trigger: str,
    requested_by: str | None = None,
    as_of: date | None = None,
    refit: bool = False,
    parameters: dict | None = None,
) -> Run:
    """Insert a queued run; the flush raises IntegrityError when another run is active."""
    if trigger not in RUN_TRIGGERS:
        raise ValueError(f"trigger must be one of {RUN_TRIGGERS}, got {trigger!r}")
    run = Run(
        status="queued",
        active_slot=True,
        trigger=trigger,
        requested_by=requested_by,
        as_of=as_of,
        refit=refit,
        queued_at=utcnow(),
        progress_percent=0.0,
        parameters=parameters or {},
        metrics={},
        report={},
    )
    session.add(run)
    session.flush()
    return run


def get_run(session: Session, run_id: int) -> Run | None:
    return session.get(Run, run_id)


def active_run(session: Session) -> Run | None:
    """The queued or running run, if any (there is at most one)."""
    return session.scalars(select(Run).where(Run.active_slot.is_(True))).first()


def list_runs(session: Session, limit: int | None = None) -> list[Run]:
    """Runs, newest first."""
    query = select(Run).order_by(Run.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def current_run(session: Session) -> Run | None:
    """The run the dashboard shows: the succeeded run with the greatest (as_of, id)."""
    query = (
        select(Run)
        .where(Run.status == "succeeded")
        .order_by(Run.as_of.desc(), Run.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def previous_run(session: Session, as_of: date, run_id: int) -> Run | None:
    """The succeeded run a run as of ``as_of`` is compared with (greatest (as_of, id) below)."""
    before = or_(Run.as_of < as_of, and_(Run.as_of == as_of, Run.id < run_id))
    query = (
        select(Run)
        .where(Run.status == "succeeded", before)
        .order_by(Run.as_of.desc(), Run.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def claim_run(session: Session, run_id: int, *, task_id: str | None = None) -> bool:
    """queued -> running, only if still queued; False for a finished or already running run."""
    now = utcnow()
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == "queued")
        .values(
            status="running",
            started_at=now,
            heartbeat_at=now,
            progress_stage="starting",
            progress_percent=0.0,
            task_id=task_id,
        )
    )
    return result.rowcount == 1


def set_run_inputs(session: Session, run_id: int, *, as_of: date, parameters: dict) -> None:
    """Record the resolved as_of and the parameters a running run uses."""
    session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == "running")
        .values(as_of=as_of, parameters=parameters)
    )


def record_progress(session: Session, run_id: int, stage: str, percent: float) -> None:
    """Progress of a running run (also counts as a heartbeat)."""
    session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == "running")
        .values(progress_stage=stage[:50], progress_percent=percent, heartbeat_at=utcnow())
    )


def record_heartbeat(session: Session, run_id: int) -> bool:
    """Tell the reaper the run is alive; False when it is no longer running."""
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == "running")
        .values(heartbeat_at=utcnow())
    )
    return result.rowcount == 1


def mark_succeeded(session: Session, run_id: int, **values) -> bool:
    """running -> succeeded in the caller's transaction (which also holds the results)."""
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == "running")
        .values(
            status="succeeded",
            active_slot=None,
            finished_at=utcnow(),
            progress_stage="done",
            progress_percent=100.0,
            **values,
        )
    )
    return result.rowcount == 1


# the parameters that change a run's result (the rest, such as counts, follow from the data)
SAME_RUN_PARAMETERS = ("profile", "n_clusters", "random_state")


def same_run(session: Session, run_id: int, *, as_of: date, data_fingerprint: str,
             parameters: dict, model_version: int) -> Run | None:
    """The succeeded run as of ``as_of`` that ``run_id`` would only repeat: the latest one
    before it on that date, if it had the same data, parameters and model version."""
    before = previous_run(session, as_of, run_id)
    if before is None or before.as_of != as_of:
        return None
    same = (before.data_fingerprint == data_fingerprint
            and before.model_version == model_version
            and all((before.parameters or {}).get(k) == parameters.get(k)
                    for k in SAME_RUN_PARAMETERS))
    return before if same else None


def mark_unchanged(session: Session, run_id: int, same_as: Run, **values) -> bool:
    """running -> unchanged: finished, nothing written (the current run stays current); the
    message the admin sees names the run it repeats."""
    note = (f"no change: same data, parameters and model version as run #{same_as.id} "
            f"(as of {same_as.as_of})")
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == "running")
        .values(
            status=UNCHANGED,
            active_slot=None,
            finished_at=utcnow(),
            progress_stage="no change",
            progress_percent=100.0,
            error=note,
            metrics={"same_as": same_as.id},
            **values,
        )
    )
    return result.rowcount == 1


def fail_run(session: Session, run_id: int, error: str) -> bool:
    """queued/running -> failed with ``error``; a finished run is left as it is."""
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status.in_(ACTIVE_STATUSES))
        .values(
            status="failed",
            active_slot=None,
            finished_at=utcnow(),
            error=error[:ERROR_MAX_CHARS],
        )
    )
    return result.rowcount == 1


def reap_stale_runs(
    session: Session,
    *,
    stale_after_seconds: int,
    queued_timeout_seconds: int,
    hard_time_limit_seconds: int | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Fail running runs without a recent heartbeat and queued runs that never started.

    A running run that never sent a heartbeat is judged by when it was claimed (started_at,
    else queued_at). A silent run that started more than ``hard_time_limit_seconds`` ago is
    reported as stopped by the time limit (the pool kills such a task without running our code).
    """
    now = now or utcnow()
    heartbeat_cutoff = now - timedelta(seconds=stale_after_seconds)
    queued_cutoff = now - timedelta(seconds=queued_timeout_seconds)
    last_sign = func.coalesce(Run.heartbeat_at, Run.started_at, Run.queued_at)
    silent = and_(Run.status == "running", or_(last_sign.is_(None), last_sign < heartbeat_cutoff))
    never_started = and_(Run.status == "queued", Run.queued_at < queued_cutoff)
    stale = session.scalars(select(Run).where(or_(silent, never_started))).all()
    reaped = []
    for run in stale:
        if run.status == "running":
            reason = _silent_reason(run, now, stale_after_seconds, hard_time_limit_seconds)
            expected = silent
        else:
            reason = (
                f"no worker started the run within {queued_timeout_seconds} s of being queued"
            )
            expected = never_started
        result = session.execute(
            update(Run)
            .where(Run.id == run.id, expected)
            .values(status="failed", active_slot=None, finished_at=now, error=reason)
        )
        if result.rowcount == 1:
            reaped.append(run.id)
    return reaped


def _silent_reason(
    run: Run, now: datetime, stale_after_seconds: int, hard_time_limit_seconds: int | None
) -> str:
    """Why a running run without a recent heartbeat is failed."""
    started = as_utc(run.started_at)
    if hard_time_limit_seconds and started and (
        now - started
    ).total_seconds() >= hard_time_limit_seconds:
        return (
            f"the run exceeded the hard time limit ({hard_time_limit_seconds} s, "
            "INSIDERS_TASK_HARD_TIME_LIMIT) and its worker process was killed"
        )
    last = as_utc(run.heartbeat_at)
    if last is None:
        since = started or as_utc(run.queued_at)
        when = f"{since:%Y-%m-%d %H:%M:%S} UTC" if since else "an unknown time"
        return (
            f"the worker never sent a heartbeat (claimed at {when}, more than "
            f"{stale_after_seconds} s ago); it was probably killed or lost"
        )
    return (
        f"the worker stopped sending heartbeats (last at {last:%Y-%m-%d %H:%M:%S} UTC, "
        f"more than {stale_after_seconds} s ago); it was probably killed or lost"
    )


def run_summary(run: Run) -> dict:
    """A JSON-safe summary of a run (``insiders runs --json``)."""

    def stamp(value: datetime | None) -> str | None:
        value = as_utc(value)
        return value.isoformat() if value else None

    return {
        "id": run.id,
        "status": run.status,
        "trigger": run.trigger,
        "requested_by": run.requested_by,
        "as_of": run.as_of.isoformat() if run.as_of else None,
        "refit": run.refit,
        "queued_at": stamp(run.queued_at),
        "started_at": stamp(run.started_at),
        "finished_at": stamp(run.finished_at),
        "progress_stage": run.progress_stage,
        "progress_percent": run.progress_percent,
        "model_version": run.model_version,
        "n_customers": run.n_customers,
        "n_insiders": run.n_insiders,
        "insiders_share": run.insiders_share,
        "revenue_share": run.revenue_share,
        "silhouette": run.silhouette,
        "data_fingerprint": run.data_fingerprint,
        "code_version": run.code_version,
        "error": run.error,
    }
