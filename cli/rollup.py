"""``insiders rollup rebuild``: recompute the per-customer daily totals from the stored rows.

Ingest keeps them in step by itself; rebuild them when the cleaning profile changes (the
totals hold the profile's cleaned lines) or when a database holds rows from before them.
"""

from __future__ import annotations

import time

import click

from migrations import ready_engine
from pipeline.clean import load_profile
from settings import load_settings
from store.rollup import rebuild, rollup_profile
from store.transactions import latest_profile, lock_invoices


@click.group("rollup")
def rollup() -> None:
    """The per-customer daily totals that features are computed from."""


@rollup.command("rebuild")
@click.option("--profile", default=None,
              help="Cleaning profile (default: the latest batch's, else INSIDERS_PROFILE).")
def rebuild_command(profile: str | None) -> None:
    """Recompute the daily totals of every stored batch with the cleaning profile."""
    settings = load_settings()
    engine = ready_engine(settings)
    started = time.monotonic()

    def progress(done: int, total: int, rows: int) -> None:
        click.echo(f"batch {done} of {total}: {rows:,} rows read"
                   f" ({time.monotonic() - started:.1f} s)")

    with engine.begin() as connection:
        lock_invoices(connection)  # no ingest changes the rows while they are summed
        name = profile or latest_profile(connection) or settings.profile
        cleaning = load_profile(name)
        before = rollup_profile(connection)
        outcome = rebuild(connection, name, cleaning=cleaning, progress=progress)
    if before is not None and before != name:
        click.echo(f"the cleaning profile changed from {before} to {name}")
    click.echo(
        f"rebuilt the daily totals with the {name} cleaning profile: {outcome.n_batches} batches,"
        f" {outcome.n_rows:,} rows, {outcome.n_days:,} customer days"
        f" in {time.monotonic() - started:.1f} s"
    )
