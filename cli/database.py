"""``insiders db``: create, upgrade or downgrade the schema (Alembic migrations)."""

from __future__ import annotations

import click

import migrations
from settings import load_settings


@click.group("db")
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Create or upgrade the schema (SQLite or PostgreSQL)."""
    settings = load_settings()
    migrations.upgrade(settings.database_url, revision)
    current = migrations.current_revision(settings.database_url)
    click.echo(f"database schema at revision {current}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Downgrade the schema to REVISION ("base" drops every table)."""
    settings = load_settings()
    migrations.downgrade(settings.database_url, revision)
    click.echo(f"database schema at revision {migrations.current_revision(settings.database_url)}")
