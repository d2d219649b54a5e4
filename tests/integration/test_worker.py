"""The worker end to end with real PostgreSQL, Redis and Celery worker processes.

The tests of this module share one history, in order: a first run with the real pipeline,
a second run scoring with the same model version, a re-delivered message, a failing
pipeline, a worker killed mid-run. The first run must stay current through the failures.
"""

from __future__ import annotations

import io
import time

import pandas as pd
import pytest
from sqlalchemy import text

from store import insiders_file, run_files, run_index
from store.db import session_scope
from store.queue import request_run, send_run_task
from store.runs import active_run, current_run
from store.transactions import ingest_file

from .conftest import _truncate, count, wait_for_files, wait_for_status

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]


@pytest.fixture(scope="module")
def history(pg_engine, synthetic_file, redis_client):
    """The test database with the synthetic transactions loaded; cleaned after the module."""
    _truncate(pg_engine)
    redis_client.flushdb()
    ingest_file(pg_engine, synthetic_file, profile="default")
    state: dict = {}
    yield pg_engine, state
    _truncate(pg_engine)


@pytest.fixture(scope="module")
def module_enqueue(test_app):
    return lambda run_id: send_run_task(run_id, test_app)


def _current_id(engine) -> int | None:
    with session_scope(engine) as session:
        run = current_run(session)
        return run.id if run else None


def _run_snapshot(engine, run_id: int) -> dict:
    with engine.connect() as connection:
        row = dict(connection.execute(
            text("SELECT * FROM runs WHERE id = :id"), {"id": run_id}
        ).mappings().one())
    for table in ("customer_labels", "label_stage", "clusters", "membership_events"):
        row[table] = count(engine, table, "run_id = :id", id=run_id)
    row["model_versions"] = count(engine, "model_versions")
    return row


def test_run_end_to_end(history, start_worker, module_enqueue):
    engine, state = history
    worker = start_worker(name="real")
    state["worker"] = worker
    run, created = request_run(engine, trigger="cli", requested_by="test",
                               enqueue=module_enqueue)
    assert created and run.status == "queued"
    row = wait_for_status(engine, run.id, ("succeeded", "failed"), timeout=300)
    assert row["status"] == "succeeded", row["error"]
    assert row["active_slot"] is None and row["progress_percent"] == 100.0
    assert row["started_at"] and row["heartbeat_at"] and row["finished_at"]
    assert row["model_version"] == 1 and row["data_fingerprint"] and row["code_version"]
    assert row["as_of"] is not None and row["parameters"]["refit"] is True
    assert row["n_customers"] == count(engine, "customer_labels", "run_id = :id", id=run.id)
    assert 0 < row["n_insiders"] < row["n_customers"]
    assert row["n_insiders"] == count(
        engine, "customer_labels", "run_id = :id AND is_insiders", id=run.id
    )
    assert count(engine, "clusters", "run_id = :id", id=run.id) >= 2
    assert count(engine, "model_versions") == 1
    assert _current_id(engine) == run.id
    wait_for_files(engine, run.id, (run_files.INSIDERS_CSV, run_index.INDEX_FILE,
                                    run_index.MAP_FILE))
    stored = run_files.read_file(engine, run.id, run_files.INSIDERS_CSV)
    assert stored == insiders_file.insiders_csv(engine, run.id)
    assert len(pd.read_csv(io.StringIO(stored))) == row["n_insiders"]
    index = run_index.read_index(engine, run.id)  # the dashboard compares runs with it
    assert len(index) == row["n_customers"] and index.is_insiders.sum() == row["n_insiders"]
    points = run_index.read_points(engine, run.id, row["n_customers"],
                                   run_index.MAX_MAP_POINTS)
    assert points is not None and points["is_insiders"].sum() == row["n_insiders"]
    state["first"] = run.id


def test_second_run_on_the_same_data_is_recorded_as_unchanged(history, module_enqueue):
    """Same data, parameters and model version as the current run: no new history."""
    engine, state = history
    run, created = request_run(engine, trigger="manual", requested_by="test",
                               enqueue=module_enqueue)
    assert created
    row = wait_for_status(engine, run.id, ("succeeded", "failed", "unchanged"), timeout=180)
    assert row["status"] == "unchanged", row["error"]
    assert row["model_version"] == 1 and row["parameters"]["refit"] is False
    assert row["active_slot"] is None and row["finished_at"] is not None
    assert f"same data, parameters and model version as run #{state['first']}" in row["error"]
    assert count(engine, "model_versions") == 1
    assert _current_id(engine) == state["first"]
    for table in ("customer_labels", "label_stage", "clusters", "membership_events"):
        assert count(engine, table, "run_id = :id", id=run.id) == 0
    state["current"] = state["first"]


def test_redelivered_task_for_a_finished_run_changes_nothing(history, test_app):
    engine, state = history
    run_id = state["current"]
    before = _run_snapshot(engine, run_id)
    task_id = send_run_task(run_id, test_app)
    state["worker"].wait_for_log(f"insiders.run_segmentation[{task_id}] succeeded", timeout=60)
    assert "'skipped'" in state["worker"].log().split(task_id)[-1].splitlines()[0]
    assert _run_snapshot(engine, run_id) == before
    state["worker"].stop()


def test_exception_in_the_pipeline_fails_the_run_with_its_reason(
    history, start_worker, module_enqueue
):
    engine, state = history
    worker = start_worker(segment="failing_segment", name="failing")
    run, created = request_run(engine, trigger="manual", enqueue=module_enqueue)
    assert created
    row = wait_for_status(engine, run.id, ("succeeded", "failed"), timeout=120)
    worker.stop()
    assert row["status"] == "failed"
    assert row["error"] == "ValueError: synthetic failure inside the pipeline"
    assert row["active_slot"] is None and row["finished_at"] is not None
    assert count(engine, "customer_labels", "run_id = :id", id=run.id) == 0
    assert count(engine, "label_stage", "run_id = :id", id=run.id) == 0
    assert _current_id(engine) == state["current"]


def test_kill_9_mid_run_gives_a_failed_run_and_the_previous_stays_current(
    history, start_worker, module_enqueue, test_app
):
    engine, state = history
    slow = start_worker(segment="slow_segment", name="slow")
    run, _ = request_run(engine, trigger="manual", enqueue=module_enqueue)
    deadline = time.monotonic() + 60
    while _run_snapshot(engine, run.id)["progress_stage"] != "slow stage":
        assert time.monotonic() < deadline, "the slow run never started"
        time.sleep(0.2)
    slow.kill_9()
    assert _run_snapshot(engine, run.id)["status"] == "running"
    with session_scope(engine) as session:
        assert active_run(session).id == run.id
    time.sleep(6)  # INSIDERS_STALE_AFTER_SECONDS=5 in these tests
    reaper = start_worker(name="reaper")
    test_app.send_task("insiders.reap_stale_runs")
    row = wait_for_status(engine, run.id, ("failed",), timeout=60)
    reaper.stop()
    assert "heartbeat" in row["error"]
    assert row["active_slot"] is None
    assert _current_id(engine) == state["current"]
    with session_scope(engine) as session:
        assert active_run(session) is None
