"""Service commands: database, ingest, runs, worker, beat and the demo.

Registered on the ``insiders`` group by ``worker.cli``.
"""

from __future__ import annotations

import getpass
import json
import sys
import time
from datetime import date

import click

from store.settings import Settings, load_settings


def _engine(settings: Settings):
    """The database engine, with the schema brought up to date (embedded) or checked."""
    import migrations
    from pipeline.errors import InsidersError
    from store.db import get_engine

    if settings.is_sqlite:
        migrations.upgrade(settings.database_url)
    elif migrations.current_revision(settings.database_url) != migrations.head_revision():
        raise InsidersError("the database schema is not up to date: run `insiders db upgrade`")
    return get_engine(settings.database_url)


@click.group("db")
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Create or upgrade the schema (SQLite or PostgreSQL)."""
    import migrations

    settings = load_settings()
    migrations.upgrade(settings.database_url, revision)
    current = migrations.current_revision(settings.database_url)
    click.echo(f"database schema at revision {current}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Downgrade the schema to REVISION ("base" drops every table)."""
    import migrations

    settings = load_settings()
    migrations.downgrade(settings.database_url, revision)
    click.echo(f"database schema at revision {migrations.current_revision(settings.database_url)}")


@click.command("ingest")
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option("--profile", default=None, help="Cleaning profile (default: INSIDERS_PROFILE).")
@click.option("--encoding", default=None, help="Text encoding of a CSV file (default: sniffed).")
def ingest(file: str, profile: str | None, encoding: str | None) -> None:
    """Validate FILE and append it as a batch of transactions (once per content)."""
    from pathlib import Path

    from pipeline.clean import load_profile
    from pipeline.errors import IngestError
    from store.transactions import ingest_file

    settings = load_settings()
    profile = profile or settings.profile
    load_profile(profile)
    if not Path(file).is_file():
        raise IngestError(f"{file}: no such file")
    outcome = ingest_file(_engine(settings), file, profile=profile, encoding=encoding)
    if not outcome.created:
        click.echo(
            f"{file} was already loaded as batch {outcome.batch_id} "
            f"({outcome.n_accepted} rows); nothing added"
        )
        return
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(outcome.rejected_by_reason.items()))
    click.echo(
        f"batch {outcome.batch_id}: {outcome.n_rows} rows read, {outcome.n_accepted} accepted, "
        f"{outcome.n_rejected} rejected" + (f" ({reasons})" if reasons else "")
    )


@click.command("run")
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Observation date (default: the last transaction date).")
@click.option("--refit", is_flag=True, help="Fit a new model version.")
@click.option("--wait", is_flag=True, help="Show progress until the run ends.")
def run(as_of, refit: bool, wait: bool) -> None:
    """Queue a segmentation run (or show the one already queued or running)."""
    from worker.embedded import worker_for_this_command, worker_running
    from worker.trigger import request_run

    settings = load_settings()
    engine = _engine(settings)
    run_, created = request_run(
        engine,
        trigger="cli",
        requested_by=getpass.getuser(),
        as_of=as_of.date() if as_of else None,
        refit=refit,
    )
    if created:
        click.echo(f"queued run {run_.id}")
    else:
        click.echo(f"run {run_.id} is already {run_.status}; not queuing another")
    if not wait:
        if settings.embedded and not worker_running(settings):
            click.echo("no worker is running: start `insiders worker` (or use --wait)")
        return
    with worker_for_this_command(settings):
        status = wait_for_run(engine, run_.id)
    if status != "succeeded":
        sys.exit(1)


def wait_for_run(engine, run_id: int, *, poll_seconds: float = 0.5, echo=click.echo) -> str:
    """Print the run's progress until it ends; returns its final status."""
    from store.db import session_scope
    from store.runs import get_run

    shown = None
    while True:
        with session_scope(engine) as session:
            run_ = get_run(session, run_id)
        state = (run_.status, run_.progress_stage, int(run_.progress_percent or 0) // 5)
        if state != shown:
            shown = state
            stage = f" · {run_.progress_stage}" if run_.progress_stage else ""
            echo(f"run {run_id}: {run_.status}{stage} · {run_.progress_percent or 0:.0f}%")
        if run_.status in ("succeeded", "failed"):
            break
        time.sleep(poll_seconds)
    if run_.status == "failed":
        echo(f"run {run_id} failed: {run_.error}")
    else:
        echo(
            f"run {run_id} succeeded as of {run_.as_of}: {run_.n_insiders} Insiders "
            f"of {run_.n_customers} customers (model version {run_.model_version})"
        )
    return run_.status


@click.command("backfill")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--every", type=click.Choice(["month"]), default="month", show_default=True)
def backfill(start, end, every: str) -> None:
    """Runs as of each period end from START to END, one after another."""
    from worker.embedded import worker_for_this_command

    settings = load_settings()
    engine = _engine(settings)
    with worker_for_this_command(settings):
        failed = backfill_runs(engine, period_ends(start.date(), end.date(), every))
    if failed:
        sys.exit(1)


def period_ends(start: date, end: date, every: str = "month") -> list[date]:
    """Month ends within [start, end], and ``end`` itself when it is not one."""
    import pandas as pd

    if end < start:
        raise click.BadParameter("--end is before --start")
    ends = [d.date() for d in pd.date_range(start, end, freq="ME")]
    if not ends or ends[-1] != end:
        ends.append(end)
    return ends


def backfill_runs(engine, as_ofs: list[date], *, echo=click.echo, skip_existing=False) -> int:
    """Queue and wait for a run per date, in order; returns how many failed."""
    from sqlalchemy import select

    from store.db import session_scope
    from store.schema import Run
    from worker.trigger import request_run

    failed = 0
    for as_of in as_ofs:
        if skip_existing:
            with session_scope(engine) as session:
                done = session.scalars(
                    select(Run.id).where(Run.status == "succeeded", Run.as_of == as_of)
                ).first()
            if done is not None:
                echo(f"as of {as_of}: run {done} exists; skipped")
                continue
        while True:
            run_, created = request_run(
                engine, trigger="backfill", requested_by=getpass.getuser(), as_of=as_of
            )
            if created:
                break
            echo(f"waiting for the active run {run_.id} to finish first")
            wait_for_run(engine, run_.id, echo=lambda _line: None)
        echo(f"as of {as_of}: run {run_.id}")
        if wait_for_run(engine, run_.id, echo=echo) != "succeeded":
            failed += 1
    return failed


@click.command("runs")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as a JSON list.")
@click.option("--limit", type=int, default=50, show_default=True)
def runs_command(as_json: bool, limit: int) -> None:
    """List runs, newest first."""
    from store.db import session_scope
    from store.runs import current_run, list_runs, run_summary

    settings = load_settings()
    engine = _engine(settings)
    with session_scope(engine) as session:
        current = current_run(session)
        summaries = [run_summary(r) for r in list_runs(session, limit)]
    current_id = current.id if current else None
    for item in summaries:
        item["is_current"] = item["id"] == current_id
    if as_json:
        click.echo(json.dumps(summaries, indent=2))
        return
    if not summaries:
        click.echo("no runs yet: `insiders run` queues one")
        return
    click.echo(f"{'id':>5}  {'status':<10} {'trigger':<9} {'as_of':<10} {'customers':>9} "
               f"{'insiders':>8}  {'model':>5}")
    for item in summaries:
        mark = "*" if item["is_current"] else " "
        click.echo(
            f"{item['id']:>4}{mark}  {item['status']:<10} {item['trigger']:<9} "
            f"{item['as_of'] or '-':<10} {item['n_customers'] or '-':>9} "
            f"{item['n_insiders'] or '-':>8}  {item['model_version'] or '-':>5}"
        )
    click.echo("* current run")


@click.command("worker")
@click.option("--concurrency", type=int, default=1, show_default=True)
@click.option("--beat/--no-beat", default=None,
              help="Run the beat in this process too (default: only in embedded mode).")
@click.option("--loglevel", default="INFO", show_default=True)
def worker(concurrency: int, beat: bool | None, loglevel: str) -> None:
    """Start a Celery worker (with the beat in embedded mode)."""
    settings = load_settings()
    _engine(settings)
    start_worker(settings, concurrency=concurrency, beat=settings.embedded if beat is None
                 else beat, loglevel=loglevel)


def start_worker(settings: Settings, *, concurrency: int, beat: bool, loglevel: str) -> None:
    """Run a Celery worker in this process until it is stopped."""
    from pipeline.errors import InsidersError
    from worker.celery_app import app
    from worker.embedded import worker_lock

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


@click.command("beat")
@click.option("--loglevel", default="INFO", show_default=True)
def beat(loglevel: str) -> None:
    """Start the Celery beat (run exactly one)."""
    from worker.celery_app import app

    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app.start(["beat", f"--loglevel={loglevel}"])


@click.command("demo")
@click.option("--host", default=None, help="Dashboard host (default: INSIDERS_DASHBOARD_HOST).")
@click.option("--port", type=int, default=None, help="Dashboard port.")
@click.option("--customers", type=int, default=None, help="Synthetic customers to generate.")
@click.option("--no-serve", is_flag=True, help="Prepare data and runs, then exit.")
def demo(host: str | None, port: int | None, customers: int | None, no_serve: bool) -> None:
    """Demo data, a history of monthly runs, worker, beat and dashboard in one process."""
    from worker.demo import run_demo

    settings = load_settings()
    run_demo(
        settings,
        host=host or settings.dashboard_host,
        port=port or settings.dashboard_port,
        customers=customers,
        serve=not no_serve,
    )


COMMANDS: list[click.Command] = [db, ingest, run, backfill, runs_command, worker, beat, demo]
