"""``insiders batches``: list the loaded batches of transactions, or remove one."""

from __future__ import annotations

import click

from migrations import ready_engine
from settings import load_settings
from store.batches import BatchContents, list_batches, remove_batch


def _dates(contents: BatchContents) -> str:
    if contents.first_date is None:
        return "no rows stored"
    return f"{contents.first_date:%Y-%m-%d} to {contents.last_date:%Y-%m-%d}"


def _describe(contents: BatchContents) -> str:
    return (
        f"batch {contents.batch_id}: {contents.filename},"
        f" loaded {contents.loaded_at:%Y-%m-%d %H:%M}"
        f"; {contents.n_stored} rows, {contents.n_invoices} invoices, {_dates(contents)}"
        f" (read {contents.n_rows}: {contents.n_rejected} rejected,"
        f" {contents.n_already_loaded} already loaded)"
    )


@click.group("batches", invoke_without_command=True)
@click.pass_context
def batches(ctx: click.Context) -> None:
    """List the batches of transactions, oldest first."""
    if ctx.invoked_subcommand is not None:
        return
    found = list_batches(ready_engine(load_settings()))
    if not found:
        click.echo("no batches loaded yet")
    for contents in found:
        click.echo(_describe(contents))


@batches.command("remove")
@click.argument("batch_id", type=int)
def remove(batch_id: int) -> None:
    """Remove batch BATCH_ID and its rows; the next run is computed without them."""
    removed = remove_batch(ready_engine(load_settings()), batch_id)
    if removed is None:
        raise click.ClickException(f"there is no batch {batch_id} (see: insiders batches)")
    click.echo(f"removed {_describe(removed)}")
    click.echo("the next run is computed without these rows")
