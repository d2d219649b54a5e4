"""Operator errors against the real PostgreSQL: one line, exit code 2, naming what was tried."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from .conftest import run_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def empty_database(pg_engine, pg_url):
    """A database on the test server with no tables at all."""
    url = make_url(pg_url)
    name = f"{url.database}_empty"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1, result.stderr[-2000:]
    return lines[0]


def test_missing_database_is_named(pg_engine, pg_url, tmp_path):
    url = make_url(pg_url).set(database="insiders_no_such_database")
    line = one_error_line(run_cli(["runs"], {
        "INSIDERS_DATA_DIR": str(tmp_path),
        "INSIDERS_DATABASE_URL": url.render_as_string(hide_password=False)}))
    assert "insiders_no_such_database" in line and "does not exist" in line
    assert f"{url.host}:{url.port}" in line


@pytest.mark.parametrize("command", [["dashboard", "--port", "1"], ["runs"]])
def test_a_database_without_tables_says_to_upgrade(empty_database, tmp_path, command):
    line = one_error_line(run_cli(command, {"INSIDERS_DATA_DIR": str(tmp_path),
                                            "INSIDERS_DATABASE_URL": empty_database}))
    assert "insiders db upgrade" in line


def test_run_with_the_broker_down_names_it(clean_db, pg_url, tmp_path):
    line = one_error_line(run_cli(["run"], {
        "INSIDERS_DATA_DIR": str(tmp_path), "INSIDERS_DATABASE_URL": pg_url,
        "INSIDERS_BROKER_URL": "redis://127.0.0.1:1/0"}))
    assert "127.0.0.1:1" in line and "INSIDERS_BROKER_URL" in line


@pytest.mark.parametrize("scheme", ["postgresql", "postgresql+psycopg2"])
def test_the_common_url_spellings_work(clean_db, pg_url, tmp_path, scheme):
    url = make_url(pg_url).set(drivername=scheme).render_as_string(hide_password=False)
    result = run_cli(["runs"], {"INSIDERS_DATA_DIR": str(tmp_path),
                                "INSIDERS_DATABASE_URL": url})
    assert result.returncode == 0, result.stderr[-2000:]
