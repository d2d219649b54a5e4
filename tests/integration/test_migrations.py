"""Migrations upgrade and downgrade an empty database, and match the models exactly."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import migrations
from store.schema import Base

pytestmark = pytest.mark.integration


def _check_round_trip(url: str) -> None:
    assert migrations.current_revision(url) is None
    migrations.upgrade(url)
    assert migrations.current_revision(url) == migrations.head_revision()
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == [], f"migrations and store.schema differ: {diff}"
        migrations.downgrade(url, "base")
        assert migrations.current_revision(url) is None
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrations.upgrade(url)
        assert "runs" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_upgrade_downgrade_postgresql(empty_pg_url):
    _check_round_trip(empty_pg_url)


def test_upgrade_downgrade_sqlite(tmp_path):
    _check_round_trip(f"sqlite:///{tmp_path / 'nested' / 'insiders.db'}")


def test_version_files_have_readable_names():
    names = [p.name for p in (migrations.HERE / "versions").glob("*.py")]
    assert names
    for name in names:
        date, time_, _rest = name.split("_", 2)
        assert len(date) == 10 and date[4] == "-" and len(time_) == 5 and time_[2] == "-"
        assert "store.schema" not in (migrations.HERE / "versions" / name).read_text()
