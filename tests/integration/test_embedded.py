"""Embedded mode end to end: SQLite in INSIDERS_DATA_DIR, no broker, no server.

``insiders run --wait`` starts a real Celery worker over kombu's SQLAlchemy transport (a
SQLite file beside the database) when no embedded worker is running, and stops it after.
"""

from __future__ import annotations

import json

import pytest

from .conftest import run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]


def test_embedded_ingest_run_wait_and_list(tmp_path, synthetic_file):
    env = {"INSIDERS_DATA_DIR": str(tmp_path / "data"), "INSIDERS_PROFILE": "default"}

    ingested = run_cli(["ingest", str(synthetic_file)], env)
    assert ingested.returncode == 0, ingested.stderr
    assert (tmp_path / "data" / "insiders.db").exists()

    queued = run_cli(["run"], env)
    assert queued.returncode == 0, queued.stderr
    assert "queued run 1" in queued.stdout and "no worker is running" in queued.stdout

    # the queued run is the active one: --wait waits for it with a worker of its own
    waited = run_cli(["run", "--wait"], env)
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert "run 1 is already queued" in waited.stdout
    assert "run 1 succeeded" in waited.stdout
    assert (tmp_path / "data" / "broker.db").exists()

    listed = run_cli(["runs", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    assert [r["status"] for r in runs] == ["succeeded"]
    first = runs[0]
    assert first["trigger"] == "cli" and first["as_of"] and first["is_current"]
    assert 0 < first["n_insiders"] < first["n_customers"]
