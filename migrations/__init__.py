"""Alembic migrations of the Insiders schema, run programmatically by ``insiders db upgrade``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine

from pipeline.errors import InsidersError
from settings import Settings
from store.db import get_engine

HERE = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    """An Alembic config for ``url`` that works from any working directory."""
    config = Config(str(HERE / "alembic.ini"))
    config.set_main_option("script_location", str(HERE))
    # ConfigParser treats % as interpolation: escape it (URL-encoded passwords)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision`` (SQLite or PostgreSQL)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Take the database at ``url`` down to ``revision`` (default: empty)."""
    command.downgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def ready_engine(settings: Settings) -> Engine:
    """The engine of ``settings``: the embedded SQLite schema is brought up to date, a
    server's schema is only checked (an admin runs ``insiders db upgrade`` with the owner role)."""
    if settings.is_sqlite:
        upgrade(settings.database_url)
    elif current_revision(settings.database_url) != head_revision():
        raise InsidersError("the database schema is not up to date: run `insiders db upgrade`")
    return get_engine(settings.database_url)
