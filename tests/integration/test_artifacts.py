"""A model artifact planted in the database is refused by the worker, never unpickled: the
run fails with the reason and the planted code does not run."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from store.queue import request_run
from store.runs import utcnow
from store.schema import ModelVersion
from store.transactions import ingest_file
from worker.runner import execute_run

from .conftest import wait_for_status

pytestmark = pytest.mark.integration


class Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


def test_the_worker_refuses_a_planted_artifact(
    clean_db: Engine, synthetic_file: Path, service_settings, tmp_path: Path
) -> None:
    ingest_file(clean_db, synthetic_file, profile="default")
    marker = tmp_path / "marker"
    with clean_db.begin() as connection:
        connection.execute(insert(ModelVersion.__table__).values(
            version=1, created_at=utcnow(), fitted_as_of=utcnow().date(), data_fingerprint="x",
            code_version="x", parameters={}, thresholds={}, clusters=[], metrics={},
            artifact=pickle.dumps(Exploit(marker)),
        ))
    run, _ = request_run(clean_db, trigger="manual", enqueue=lambda _id: None)
    assert execute_run(run.id, engine=clean_db, settings=service_settings) == "failed"
    failed = wait_for_status(clean_db, run.id, ("failed",), timeout=5)
    assert "model artifact refused" in failed["error"]
    assert not marker.exists()
