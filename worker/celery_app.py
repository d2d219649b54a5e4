"""The Celery application: JSON only, late acks, time limits and the beat schedule from settings.

``celery -A worker.celery_app worker`` and ``insiders worker`` both load ``app`` from here.
"""

from __future__ import annotations

import os
import sys
import warnings

from celery import Celery
from celery.signals import beat_init, worker_init, worker_process_init

from settings import Settings, SettingsError, load_settings
from store.db import dispose_engines
from store.queue import QUEUE, broker_transport_options
from worker.reaper import start_reaper_thread
from worker.schedule import beat_schedule

# pool processes are daemonic, so scikit-learn runs its neighbour search on one core; it says so
# at every run, which tells an operator nothing they can act on
warnings.filterwarnings("ignore", message="Loky-backed parallel loops cannot be called")
# UMAP falls back to a random start (still seeded, so reproducible) and says so at length
warnings.filterwarnings("ignore", message="Spectral initialisation failed", category=UserWarning)


def create_app(settings: Settings | None = None) -> Celery:
    """A Celery app configured from ``settings`` (default: the environment)."""
    settings = settings or load_settings()
    app = Celery("insiders", broker=settings.broker_url,
                 include=["worker.tasks", "worker.webhooks"])
    app.conf.update(
        broker_transport_options=broker_transport_options(settings),
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        result_serializer="json",
        event_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=settings.result_backend or None,
        task_default_queue=QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.task_soft_time_limit,
        task_time_limit=settings.task_hard_time_limit,
        timezone="UTC",
        enable_utc=True,
        beat_schedule=beat_schedule(settings),
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
        worker_hijack_root_logger=False,
    )
    if settings.embedded:
        # the SQLite transport has no fanout exchange for remote control and events
        app.conf.worker_enable_remote_control = False
        app.conf.worker_send_task_events = False
        # the demo prints run progress on the terminal it was started from: keep it plain
        app.conf.worker_redirect_stdouts = False
    return app


@worker_init.connect
def _preload_pipeline(**_kwargs) -> None:
    # scikit-learn and UMAP take seconds to import: pay once in the parent, not in each run
    import pipeline.run  # noqa: F401


@worker_process_init.connect
def _fresh_connections(**_kwargs) -> None:
    # a forked pool process must not reuse the parent's pooled database connections
    dispose_engines()


@beat_init.connect
def _reap_from_the_beat(**_kwargs) -> None:
    # the reaper must not wait for a worker slot: the only worker may be the one that died
    start_reaper_thread()


def refuse_open_flower(settings: Settings, argv: list[str], env: dict[str, str]) -> None:
    """Production Flower (``celery -A worker.celery_app flower``) must ask for a login."""
    if not settings.is_production or "flower" not in argv:
        return
    if env.get("FLOWER_BASIC_AUTH") or env.get("FLOWER_AUTH") or any(
        arg.startswith(("--basic-auth", "--basic_auth", "--auth")) for arg in argv
    ):
        return
    raise SettingsError(
        "production mode refuses Flower without a login: start it with "
        "--basic-auth=USER:PASSWORD (INSIDERS_FLOWER_USER and INSIDERS_FLOWER_PASSWORD in .env)"
    )


try:
    _settings = load_settings()
    app = create_app(_settings)
    refuse_open_flower(_settings, sys.argv, dict(os.environ))
except SettingsError as exc:
    # `celery -A worker.celery_app ...` (the compose healthcheck, Flower) would show a traceback
    print(f"error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
