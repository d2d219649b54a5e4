"""``insiders ingest``: validate a file and append it as a batch of transactions."""

from __future__ import annotations

from pathlib import Path

import click

from migrations import ready_engine
from pipeline.clean import load_profile
from pipeline.errors import IngestError
from settings import load_settings
from store.transactions import ingest_file


@click.command("ingest")
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option("--profile", default=None, help="Cleaning profile (default: INSIDERS_PROFILE).")
@click.option("--encoding", default=None, help="Text encoding of a CSV file (default: sniffed).")
def ingest(file: str, profile: str | None, encoding: str | None) -> None:
    """Validate FILE and append its new invoices as a batch of transactions.

    An invoice that an earlier batch holds is not stored again: its rows count as already loaded.
    """
    settings = load_settings()
    profile = profile or settings.profile
    load_profile(profile)
    if not Path(file).is_file():
        raise IngestError(f"{file}: no such file")
    outcome = ingest_file(
        ready_engine(settings),
        file,
        profile=profile,
        encoding=encoding,
        max_unit_price=settings.max_unit_price,
        max_quantity=settings.max_quantity,
    )
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
        + f", {outcome.n_already_loaded} already loaded (invoices an earlier batch holds)"
    )
