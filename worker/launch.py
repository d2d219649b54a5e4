"""Start a Celery worker in this process: ``insiders worker`` and ``insiders demo`` call this."""

from __future__ import annotations

from pipeline.errors import InsidersError
from settings import Settings
from worker.celery_app import app
from worker.embedded import worker_lock


def start_worker(settings: Settings, *, concurrency: int, beat: bool, loglevel: str) -> None:
    """Run a Celery worker (and the beat when ``beat``) until it is stopped.

    In embedded mode the worker holds the data folder's lock, so there is one per folder.
    """
    argv = ["worker", f"--loglevel={loglevel}", f"--concurrency={concurrency}",
            "--without-mingle", "--without-gossip"]
    if beat:
        argv.append("--beat")
    if not settings.embedded:
        app.worker_main(argv)
        return
    with worker_lock(settings) as acquired:
        if not acquired:
            raise InsidersError(
                f"an embedded worker is already running for {settings.data_dir} "
                f"(see {settings.data_dir / 'worker.lock'})"
            )
        app.worker_main([*argv, "--without-heartbeat"])
