"""``insiders db``: create, upgrade or downgrade the schema (Alembic migrations)."""

from __future__ import annotations

import click

import migrations
from settings import Settings, load_settings
from store.db import get_engine
from store.roles import grant_privileges


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
    if settings.db_worker_role and settings.db_dashboard_role:
        _grant(settings, settings.db_worker_role, settings.db_dashboard_role)


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Downgrade the schema to REVISION ("base" drops every table)."""
    settings = load_settings()
    migrations.downgrade(settings.database_url, revision)
    click.echo(f"database schema at revision {migrations.current_revision(settings.database_url)}")


@db.command("grant")
@click.option("--worker-role", default=None,
              help="Role the worker and beat connect as (default: INSIDERS_DB_WORKER_ROLE).")
@click.option("--dashboard-role", default=None,
              help="Role the dashboard connects as (default: INSIDERS_DB_DASHBOARD_ROLE).")
def db_grant(worker_role: str | None, dashboard_role: str | None) -> None:
    """Give the worker's and the dashboard's PostgreSQL roles their least privileges."""
    settings = load_settings()
    worker_role = worker_role or settings.db_worker_role
    dashboard_role = dashboard_role or settings.db_dashboard_role
    if not (worker_role and dashboard_role):
        raise click.UsageError("name both roles: --worker-role and --dashboard-role")
    if settings.is_sqlite:
        raise click.UsageError("roles exist only on PostgreSQL; the embedded database has none")
    _grant(settings, worker_role, dashboard_role)


def _grant(settings: Settings, worker_role: str, dashboard_role: str) -> None:
    with get_engine(settings.database_url).begin() as connection:
        grant_privileges(connection, worker_role=worker_role, dashboard_role=dashboard_role)
    click.echo(f"privileges granted: worker role {worker_role}, dashboard role {dashboard_role}")
