"""``insiders run``, ``backfill`` and ``runs``: queue runs, follow them, list them."""

from __future__ import annotations

import getpass
import json
import sys
import time
from datetime import date

import click
import pandas as pd
from sqlalchemy import Engine, select

from migrations import ready_engine
from settings import load_settings
from store.db import session_scope
from store.queue import request_run
from store.runs import current_run, get_run, list_runs, run_summary
from store.schema import FINISHED_STATUSES, UNCHANGED, Run
from worker.embedded import worker_for_this_command, worker_running


@click.command("run")
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Observation date (default: the last transaction date).")
@click.option("--refit", is_flag=True, help="Fit a new model version.")
@click.option("--wait", is_flag=True, help="Show progress until the run ends.")
def run(as_of, refit: bool, wait: bool) -> None:
    """Queue a segmentation run (or show the one already queued or running)."""
    settings = load_settings()
    engine = ready_engine(settings)
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
    if status == "failed":
        sys.exit(1)


def wait_for_run(engine: Engine, run_id: int, *, poll_seconds: float = 0.5, echo=click.echo) -> str:
    """Print the run's progress until it ends; returns its final status."""
    shown = None
    while True:
        with session_scope(engine) as session:
            run_ = get_run(session, run_id)
        state = (run_.status, run_.progress_stage, int(run_.progress_percent or 0) // 5)
        if state != shown:
            shown = state
            stage = f" · {run_.progress_stage}" if run_.progress_stage else ""
            echo(f"run {run_id}: {run_.status}{stage} · {run_.progress_percent or 0:.0f}%")
        if run_.status in FINISHED_STATUSES:
            break
        time.sleep(poll_seconds)
    if run_.status == "failed":
        echo(f"run {run_id} failed: {run_.error}")
    elif run_.status == UNCHANGED:
        echo(f"run {run_id} as of {run_.as_of}: {run_.error}; nothing new recorded")
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
    settings = load_settings()
    engine = ready_engine(settings)
    with worker_for_this_command(settings):
        failed = backfill_runs(engine, period_ends(start.date(), end.date(), every))
    if failed:
        sys.exit(1)


def period_ends(start: date, end: date, every: str = "month") -> list[date]:
    """Month ends within [start, end], and ``end`` itself when it is not one."""
    if end < start:
        raise click.BadParameter("--end is before --start")
    ends = [d.date() for d in pd.date_range(start, end, freq="ME")]
    if not ends or ends[-1] != end:
        ends.append(end)
    return ends


def backfill_runs(
    engine: Engine, as_ofs: list[date], *, echo=click.echo, skip_existing: bool = False
) -> int:
    """Queue and wait for a run per date, in order; returns how many failed."""


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
        if wait_for_run(engine, run_.id, echo=echo) == "failed":
            failed += 1
    return failed


@click.command("runs")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as a JSON list.")
@click.option("--limit", type=int, default=50, show_default=True)
def runs_command(as_json: bool, limit: int) -> None:
    """List runs, newest first."""
    settings = load_settings()
    engine = ready_engine(settings)
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
