"""A model artifact planted in the database is refused by the worker, never unpickled: the
run fails with the reason and the planted code does not run. A refit never reads the artifact of
the version it replaces."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select, update

from store.queue import request_run
from store.runs import utcnow
from store.schema import ModelVersion
from store.transactions import ingest_file, max_invoice_date
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
        # fitted on the data's last day: the run scores with it (a refit would not read it)
        fitted = max_invoice_date(connection).date()
        connection.execute(insert(ModelVersion.__table__).values(
            version=1, created_at=utcnow(), fitted_as_of=fitted, data_fingerprint="x",
            code_version="x", parameters={}, thresholds={}, clusters=[], metrics={},
            artifact=pickle.dumps(Exploit(marker)),
        ))
    run, _ = request_run(clean_db, trigger="manual", enqueue=lambda _id: None)
    assert execute_run(run.id, engine=clean_db, settings=service_settings) == "failed"
    failed = wait_for_status(clean_db, run.id, ("failed",), timeout=5)
    assert "model artifact refused" in failed["error"]
    assert not marker.exists()


def test_a_refit_reads_the_version_it_replaces_without_its_artifact(
    clean_db: Engine, synthetic_file: Path, service_settings
) -> None:
    ingest_file(clean_db, synthetic_file, profile="default")
    first, _ = request_run(clean_db, trigger="manual", enqueue=lambda _id: None)
    assert execute_run(first.id, engine=clean_db, settings=service_settings) == "succeeded"
    with clean_db.begin() as connection:
        connection.execute(update(ModelVersion).values(artifact=b"unreadable"))
    refit, _ = request_run(clean_db, trigger="manual", refit=True, enqueue=lambda _id: None)
    assert execute_run(refit.id, engine=clean_db, settings=service_settings) == "succeeded"
    with clean_db.connect() as connection:
        versions = connection.execute(
            select(ModelVersion.version, ModelVersion.parent_version)
            .order_by(ModelVersion.version)).all()
    assert [(v.version, v.parent_version) for v in versions] == [(1, None), (2, 1)]
    # a scoring run reads the new version's artifact: it repeats the refit's run on its date
    scoring, _ = request_run(clean_db, trigger="manual", enqueue=lambda _id: None)
    assert execute_run(scoring.id, engine=clean_db, settings=service_settings) == "unchanged"
