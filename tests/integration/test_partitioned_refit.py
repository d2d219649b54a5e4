"""A refit of more customers than its model is fitted on, with real PostgreSQL, Redis and a
Celery worker: the run's process fits and stores the model version, then the customers are
scored with it in partitions. It gives the labels, events, forecasts, clusters, report and
model version of the same refit in one process.

The data are small (1,500 customers); ``INSIDERS_FIT_CUSTOMERS`` makes the refit fit on a
sample of 600 of them, as a refit of more than 20,000 customers does by default.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from store import partitions, run_changes, run_files, run_index
from store.db import session_scope
from store.queue import request_run, send_run_task
from store.transactions import ingest_file

from .conftest import (
    _truncate,
    launch_worker,
    wait_for_files,
    wait_for_status,
)
from .test_partitions import _assert_same, _set_aside, _settings, _snapshot

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

SMALL_FIT = {"INSIDERS_FIT_CUSTOMERS": "600"}
N_PARTITIONS = 3
VERSION_COLUMNS = ("version, fitted_as_of, parent_version, data_fingerprint, parameters, "
                   "thresholds, clusters, metrics")


@pytest.fixture(scope="module")
def history(pg_engine, redis_client, service_env, tmp_path_factory):
    """1,500 synthetic customers and a first refit 40 days before the last day (model version
    1, in one process): the refits below replace it and follow its run."""
    from pipeline import synthetic
    from worker.runner import execute_run

    _truncate(pg_engine)
    redis_client.flushdb()
    path = tmp_path_factory.mktemp("partitioned-refit") / "synthetic.csv"
    synthetic.generate_transactions(1500, seed=12).to_csv(path, index=False)
    ingest_file(pg_engine, path, profile="default")
    with pg_engine.connect() as connection:
        last = connection.execute(text("SELECT MAX(day) FROM customer_days")).scalar_one()
    run, _ = request_run(pg_engine, trigger="cli", as_of=last - dt.timedelta(days=40),
                         refit=True, enqueue=lambda _id: None)
    settings = _settings(service_env, **SMALL_FIT)
    assert execute_run(run.id, engine=pg_engine, settings=settings) == "succeeded"
    yield pg_engine, last
    _truncate(pg_engine)
    redis_client.flushdb()


def _version(engine, version: int) -> dict:
    with engine.connect() as connection:
        row = connection.execute(text(f"SELECT {VERSION_COLUMNS} FROM model_versions "
                                      "WHERE version = :v"), {"v": version}).mappings().one()
    return dict(row)


@pytest.fixture(scope="module")
def in_one_process(history, service_env):
    """The refit as of the last day in this process, in one piece; then taken out of the
    history with its model version, so the partitioned refit replaces version 1 too."""
    from worker.runner import execute_run

    engine, last = history
    run, _ = request_run(engine, trigger="cli", as_of=last, refit=True, enqueue=lambda _id: None)
    settings = _settings(service_env, INSIDERS_PARTITION_ROWS="1000000", **SMALL_FIT)
    assert execute_run(run.id, engine=engine, settings=settings) == "succeeded"
    with engine.connect() as connection:
        assert not partitions.status(connection, run.id)["total"]
    snapshot, version = _snapshot(engine, run.id), _version(engine, 2)
    _set_aside(engine, run.id)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM model_versions WHERE version = 2"))
    return snapshot, version


@pytest.fixture(scope="module")
def worker(service_env, redis_client, tmp_path_factory):
    """A ``celery worker`` process (one child) splitting runs in 3 partitions."""
    started = launch_worker({**service_env, "INSIDERS_PARTITIONS": str(N_PARTITIONS),
                             **SMALL_FIT},
                            tmp_path_factory.mktemp("refit-worker") / "worker.log", "refit")
    yield started
    started.stop()


def test_a_refit_in_partitions_equals_the_refit_in_one_process(history, in_one_process,
                                                               worker, test_app):
    engine, last = history
    want, want_version = in_one_process
    run, _ = request_run(engine, trigger="cli", as_of=last, refit=True,
                         enqueue=lambda run_id: send_run_task(run_id, test_app))
    row = wait_for_status(engine, run.id, ("succeeded", "failed", "unchanged"), timeout=300)
    assert row["status"] == "succeeded", row["error"]
    assert row["parameters"]["partitions"] == N_PARTITIONS
    assert row["parameters"]["refit"] and row["parameters"]["replaced_version"] == 1
    assert row["metrics"]["refitted"] and row["model_version"] == 2
    assert row["silhouette"] is not None
    with engine.connect() as connection:
        counts = partitions.status(connection, run.id)
        # the run's silhouette is its fit's: the silhouette job read no labels for it
        assert partitions.job_results(connection, run.id)[partitions.SILHOUETTE] == {
            "silhouette": None}
        fitted_by = connection.execute(text(
            "SELECT created_by_run_id FROM model_versions WHERE version = 2")).scalar_one()
    assert counts["done"] == counts["total"] == N_PARTITIONS
    assert fitted_by == run.id
    got = _snapshot(engine, run.id)
    assert got["events"].shape[0] > 0 and got["forecasts"].shape[0] > 0
    _assert_same(got, want)
    version = _version(engine, 2)
    assert version["parameters"]["scores_per_customer"]
    assert version == want_version
    wait_for_files(engine, run.id, (run_files.INSIDERS_CSV, run_index.INDEX_FILE,
                                    run_changes.CHANGES_FILE))


def test_a_refit_failed_after_its_fit_leaves_its_version_to_the_next_run(history, service_env,
                                                                        monkeypatch):
    """The version is stored before the customers are scored: when the run then fails, the
    next run scores with it instead of fitting again."""
    import worker.celery_app as celery_app
    from store.runs import fail_run
    from worker.runner import execute_run

    engine, last = history
    sent: list = []
    monkeypatch.setattr(celery_app.app, "send_task",
                        lambda *args, **kwargs: sent.append(kwargs["args"]))
    settings = _settings(service_env, INSIDERS_PARTITIONS=str(N_PARTITIONS), **SMALL_FIT)
    with engine.connect() as connection:
        fitted = 1 + connection.execute(text("SELECT MAX(version) FROM model_versions")
                                        ).scalar_one()
    refit, _ = request_run(engine, trigger="cli", as_of=last, refit=True,
                           enqueue=lambda _id: None)
    after = None
    try:
        assert execute_run(refit.id, engine=engine, settings=settings) == "partitioned"
        assert len(sent) == N_PARTITIONS + len(partitions.FINISHING)  # queued, never taken
        with session_scope(engine) as session:
            assert fail_run(session, refit.id, "the worker was lost")
        after, _ = request_run(engine, trigger="cli", as_of=last, enqueue=lambda _id: None)
        one_piece = _settings(service_env, INSIDERS_PARTITION_ROWS="1000000", **SMALL_FIT)
        assert execute_run(after.id, engine=engine, settings=one_piece) == "succeeded"
        row = wait_for_status(engine, after.id, ("succeeded",))
        assert row["model_version"] == fitted and not row["metrics"]["refitted"]
        assert _version(engine, fitted)["fitted_as_of"] == last
        with engine.connect() as connection:
            assert connection.execute(text(
                "SELECT created_by_run_id FROM model_versions WHERE version = :v"),
                {"v": fitted}).scalar_one() == refit.id
    finally:
        for run_id in (refit.id, None if after is None else after.id):
            if run_id is not None:
                _set_aside(engine, run_id)
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM model_versions WHERE version = :v"),
                               {"v": fitted})
