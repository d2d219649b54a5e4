"""Alembic environment: the URL comes from the caller (``store.migrate``) or settings.

Migrations never import ``store.schema``; each version declares the tables it touches.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from settings import load_settings

config = context.config


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    return load_settings().database_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = engine_from_config(
        {"sqlalchemy.url": _url()}, prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.connect() as connection:
        _run(connection)


def _run(connection) -> None:
    # batch mode lets later ALTERs work on SQLite (copy-and-move tables)
    context.configure(connection=connection, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
