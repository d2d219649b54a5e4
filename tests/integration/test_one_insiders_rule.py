"""One Insiders rule on the real data: `insiders segment`, `insiders report` and a worker run
name the same Insiders (the same customer ids) with the same entry and exit conditions.

Each real-data segmentation takes about a minute, so the module makes three: one segment call,
one report call and one worker run (in this process, on the test database), shared by the tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from cli import cli
from settings import load_settings
from store.queue import request_run
from store.results import load_labels
from store.transactions import ingest_file
from worker.runner import execute_run

from .conftest import _truncate

pytestmark = [pytest.mark.realdata, pytest.mark.integration, pytest.mark.timeout(900)]


def _invoke(*args: str) -> None:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def segmented(real_data_path: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The labels `insiders segment` writes for the real data (index customer_id)."""
    out = tmp_path_factory.mktemp("segment") / "labels.csv"
    _invoke("segment", str(real_data_path), "-o", str(out))
    return pd.read_csv(out, index_col="customer_id")


@pytest.fixture(scope="module")
def reported(real_data_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`insiders report --format json` on the real data."""
    out = tmp_path_factory.mktemp("report") / "report.json"
    _invoke("report", str(real_data_path), "--format", "json", "-o", str(out))
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def worker_run(pg_engine, service_env, real_data_path: Path):
    """A worker run on the real data ingested into the test database: (labels, report,
    thresholds of its model version)."""
    _truncate(pg_engine)
    ingest_file(pg_engine, real_data_path, profile="online-retail")
    run, created = request_run(pg_engine, trigger="cli", requested_by="test",
                               enqueue=lambda _run_id: None)
    assert created
    status = execute_run(run.id, engine=pg_engine, settings=load_settings(service_env))
    with pg_engine.connect() as connection:
        row = connection.execute(text(
            "SELECT runs.status, runs.error, runs.report, model_versions.thresholds "
            "FROM runs JOIN model_versions ON model_versions.version = runs.model_version "
            "WHERE runs.id = :id"), {"id": run.id}).mappings().one()
    assert status == "succeeded", row["error"]
    labels = load_labels(pg_engine, run.id)
    yield labels, row["report"], row["thresholds"]
    _truncate(pg_engine)


def _insiders(labels: pd.DataFrame) -> list[int]:
    return sorted(int(i) for i in labels.index[labels["is_insiders"].astype(bool)])


def test_segment_report_and_worker_name_the_same_insiders(segmented, reported, worker_run):
    worker_labels, worker_report, _ = worker_run
    members = _insiders(worker_labels)
    assert _insiders(segmented) == members
    assert sorted(reported["insiders_ids"]) == members
    assert sorted(worker_report["insiders_ids"]) == members
    # the members, not a whole mixture cluster (which held 18% of customers on larger data)
    assert 0.05 <= len(members) / len(worker_labels) <= 0.15


def test_report_and_worker_give_the_same_entry_and_exit_conditions(reported, worker_run):
    _, worker_report, version_thresholds = worker_run
    assert reported["thresholds"] == version_thresholds == worker_report["thresholds"]
    assert set(reported["thresholds"]) == {"entry", "exit"}
    assert reported["threshold_counts"] == worker_report["threshold_counts"]
