"""Request a run: commit the queued row first, then send its task to the broker by name.

The database admits one queued-or-running run (unique ``runs.active_slot``); a request
while one is active returns that run with ``created=False``. Used by the CLI, the beat's
scheduled task and the dashboard's "Run now". The task is sent by name through a
broker-only Celery client, so nothing here (nor in the dashboard) imports the worker.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import cache

from celery import Celery
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from settings import Settings, load_settings
from store import runs
from store.db import session_scope
from store.schema import Run
from store.webhook_events import reap_and_record

QUEUE = "insiders"
RUN_TASK = "insiders.run_segmentation"
SCHEDULED_RUN_TASK = "insiders.scheduled_run"
REAPER_TASK = "insiders.reap_stale_runs"
WEBHOOK_TASK = "insiders.deliver_webhook"
WEBHOOK_SWEEP_TASK = "insiders.sweep_webhooks"
INBOX_TASK = "insiders.ingest_inbox"

Enqueue = Callable[[int], object]


def _engine(session_or_engine: Session | Engine) -> Engine:
    if isinstance(session_or_engine, Session):
        return session_or_engine.get_bind()
    return session_or_engine


def broker_transport_options(settings: Settings) -> dict:
    """Options Celery hands to the broker transport (this is where Redis reads them)."""
    if settings.broker_url.startswith(("sqla+", "sqlalchemy+")):
        # kombu passes these to sqlalchemy.create_engine: no visibility timeout here, a
        # delivered message stays hidden until the worker acks it or restores it on shutdown
        return {"connect_args": {"timeout": 30}}
    # above the hard limit, so a long run is never handed to a second worker while alive
    return {"visibility_timeout": settings.task_hard_time_limit + 600}


@cache
def _sender(broker_url: str) -> Celery:
    settings = load_settings()
    sender = Celery("insiders-sender", broker=broker_url)
    sender.conf.update(broker_transport_options=broker_transport_options(settings),
                       task_serializer="json", accept_content=["json"],
                       task_default_queue=QUEUE, broker_connection_retry_on_startup=True)
    return sender


def send_run_task(run_id: int, app: Celery | None = None) -> str:
    """Put ``insiders.run_segmentation(run_id)`` on the broker; returns the task id."""
    sender = app or _sender(load_settings().broker_url)
    return sender.send_task(RUN_TASK, args=[run_id], queue=QUEUE).id


def send_webhook_task(
    delivery_id: int, app: Celery | None = None, countdown: float | None = None
) -> str:
    """Put ``insiders.deliver_webhook(delivery_id)`` on the broker; returns the task id."""
    sender = app or _sender(load_settings().broker_url)
    return sender.send_task(WEBHOOK_TASK, args=[delivery_id], queue=QUEUE,
                            countdown=countdown).id


def request_run(
    session_or_engine: Session | Engine,
    trigger: str = "manual",
    requested_by: str | None = None,
    as_of: date | None = None,
    refit: bool = False,
    *,
    enqueue: Enqueue | None = None,
) -> tuple[Run, bool]:
    """Queue a run, or return the active one: ``(run, created)``.

    The row is committed before the task is sent, so the worker always finds it. Works with
    the caller's session or engine (it uses its own transactions on the same database).
    ``enqueue(run_id)`` replaces sending with the default Celery app (tests, other brokers).
    """
    engine = _engine(session_or_engine)
    settings = load_settings()
    with session_scope(engine) as session:
        # a dead worker's run must not block every request until the beat's reaper runs
        reap_and_record(session, settings)
    # each retry means the active run ended meanwhile; under load that can happen a few times
    for _attempt in range(10):
        try:
            with session_scope(engine) as session:
                run = runs.create_run(
                    session, trigger=trigger, requested_by=requested_by, as_of=as_of, refit=refit
                )
            break
        except IntegrityError:
            with session_scope(engine) as session:
                active = runs.active_run(session)
            if active is not None:
                return active, False
            # the active run finished between our insert and our look-up: try again
    else:
        raise RuntimeError("could not queue a run: the active run kept changing")
    try:
        (enqueue or send_run_task)(run.id)
    except Exception as exc:
        with session_scope(engine) as session:
            runs.fail_run(session, run.id, f"could not enqueue the run: {exc}")
        raise
    return run, True
