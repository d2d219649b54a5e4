"""``insiders customers``: import customer contact details, look customers up."""

from __future__ import annotations

import click

from migrations import ready_engine
from pipeline.contacts import parse_column_map, read_contacts
from settings import load_settings
from store.contacts import search_contacts, upsert_contacts

SHOWN_REJECTS = 20


@click.group("customers")
def customers() -> None:
    """Customer contact details (email, name, country, marketing consent)."""


@customers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=str))
@click.option("--map", "mappings", multiple=True, metavar="COLUMN=HEADER",
              help="Name a column of the file, e.g. --map email=E-Mail (repeatable). "
                   "Columns: customer_id, email, name, country, marketing_consent.")
@click.option("--encoding", default=None, help="Text encoding of a CSV file (default: sniffed).")
def import_contacts(file: str, mappings: tuple[str, ...], encoding: str | None) -> None:
    """Add or update the contact details in FILE (CSV, .xlsx or Parquet).

    A customer already known gets the file's details; rows with a missing customer id, a
    malformed email or a consent that is neither yes nor no are listed and left out.
    """
    contacts = read_contacts(file, parse_column_map(mappings), encoding)
    engine = ready_engine(load_settings())
    with engine.begin() as connection:
        counts = upsert_contacts(connection, contacts.contacts)
    click.echo(f"{len(contacts.contacts)} customers read: {counts.added} added, "
               f"{counts.updated} updated, {len(contacts.rejects)} rows rejected")
    for row in contacts.rejects.head(SHOWN_REJECTS).to_dict(orient="records"):
        click.echo(f"  line {row['row']}: {row['reason']} (customer id {row['customer_id']!r})")
    if len(contacts.rejects) > SHOWN_REJECTS:
        click.echo(f"  ... and {len(contacts.rejects) - SHOWN_REJECTS} more")


@customers.command("search")
@click.argument("text")
def search(text: str) -> None:
    """Customers whose email or name contains TEXT."""
    with ready_engine(load_settings()).connect() as connection:
        found = search_contacts(connection, text)
    if not found:
        click.echo("no customer matches")
    for contact in found:
        consent = "consents to marketing" if contact["marketing_consent"] else "no consent"
        click.echo(f"{contact['customer_id']}  {contact['name'] or '-'}  "
                   f"{contact['email'] or '-'}  {contact['country'] or '-'}  {consent}")
