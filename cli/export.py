"""``insiders export``: the API's tables of changes and Insiders as CSV, JSON or Parquet."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import pandas as pd

from dashboard import data
from dashboard.api import tables
from migrations import ready_engine
from settings import load_settings
from store.schema import SUCCEEDED

FORMATS = ("csv", "json", "parquet")


@click.group("export")
def export() -> None:
    """Write who entered and left, or a run's Insiders, with the API's columns."""


def _run(engine, run_id: int | None, what: str) -> dict:
    run = data.current_run(engine) if run_id is None else data.get_run(run_id, engine)
    if run is None:
        raise click.ClickException(f"{what}: no such run" if run_id else "no run has succeeded")
    if run["status"] != SUCCEEDED:
        raise click.ClickException(f"{what}: run {run_id} is {run['status']}; only a "
                                   "succeeded run has results")
    return run


def _write(frame: pd.DataFrame, fmt: str, output: Path | None) -> None:
    if fmt == "parquet":
        if output is None:
            raise click.ClickException("parquet is binary: give a file with -o")
        output.write_bytes(tables.to_parquet(frame))
    else:
        text = tables.to_csv(frame) if fmt == "csv" else tables.to_json(frame)
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text)
    if output is not None:
        click.echo(f"{len(frame)} rows written to {output}", err=True)


def _options(fn):
    fn = click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv",
                      show_default=True)(fn)
    return click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
                        default=None, help="The file to write (default: standard output).")(fn)


@export.command("changes")
@click.option("--from-run", type=int, default=None,
              help="The older run (default: the succeeded run before --to-run).")
@click.option("--to-run", type=int, default=None, help="The newer run (default: the current).")
@click.option("--kind", type=click.Choice(["entered", "exited"]), default=None)
@_options
def export_changes(from_run: int | None, to_run: int | None, kind: str | None, fmt: str,
                   output: Path | None) -> None:
    """Who entered and who left Insiders between two runs, with cause and reason."""
    engine = ready_engine(load_settings())
    newer = _run(engine, to_run, "--to-run")
    if from_run is None:
        older = data.previous_run(newer["id"], engine)
        if older is None:
            raise click.ClickException(f"run {newer['id']} is the first succeeded run")
    else:
        older = _run(engine, from_run, "--from-run")
    _write(tables.changes_table(older, newer, engine, kind), fmt, output)


@export.command("insiders")
@click.option("--run", "run_id", type=int, default=None, help="The run (default: the current).")
@_options
def export_insiders(run_id: int | None, fmt: str, output: Path | None) -> None:
    """The Insiders of a succeeded run, one row per customer."""
    engine = ready_engine(load_settings())
    _write(tables.insiders_table(_run(engine, run_id, "--run"), engine), fmt, output)
