"""``insiders worker``, ``insiders beat`` and ``insiders dashboard``: the long-running services."""

from __future__ import annotations

import click

from migrations import ready_engine
from settings import load_settings


@click.command("worker")
@click.option("--concurrency", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: INSIDERS_WORKER_CONCURRENCY, 1).")
@click.option("--beat/--no-beat", default=None,
              help="Run the beat in this process too (default: only in embedded mode).")
@click.option("--loglevel", default="INFO", show_default=True)
def worker(concurrency: int | None, beat: bool | None, loglevel: str) -> None:
    """Start a Celery worker (with the beat in embedded mode)."""
    # the worker and the dashboard are imported only by their own command: each loads a
    # different heavy stack (Celery and scikit-learn, or Dash)
    from worker.launch import start_worker

    settings = load_settings()
    ready_engine(settings)
    concurrency = concurrency or settings.worker_concurrency
    start_worker(settings, concurrency=concurrency, beat=settings.embedded if beat is None
                 else beat, loglevel=loglevel)


@click.command("beat")
@click.option("--loglevel", default="INFO", show_default=True)
def beat(loglevel: str) -> None:
    """Start the Celery beat (run exactly one)."""
    from worker.celery_app import app  # see worker(): the heavy stack only when needed

    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app.start(["beat", f"--loglevel={loglevel}"])


@click.command("dashboard")
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port to listen on (default 8050).")
def dashboard(host: str | None, port: int | None) -> None:
    """Serve the dashboard (embedded SQLite database unless INSIDERS_DATABASE_URL is set)."""
    from dashboard.app import serve  # see worker(): the heavy stack only when needed

    settings = load_settings()
    ready_engine(settings)
    host = host or settings.dashboard_host
    port = port or settings.dashboard_port
    if not settings.admin_user:
        click.echo("no INSIDERS_ADMIN_USER set: add accounts with `insiders user add`", err=True)
    click.echo(f"Insiders dashboard: http://{host}:{port}/  (Ctrl+C stops it)")
    serve(host, port)
