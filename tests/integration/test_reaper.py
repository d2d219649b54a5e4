"""The reaper runs in the beat process: a run whose only worker died, stopped or is busy is
failed within INSIDERS_STALE_AFTER_SECONDS + a minute, and a reaped run never publishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from store.db import session_scope
from store.queue import request_run, send_run_task
from store.runs import claim_run, current_run, mark_succeeded, reap_stale_runs, utcnow
from store.transactions import ingest_file
from worker.runner import execute_run

from .conftest import REPO, WorkerProcess, _clean_env, count, wait_for_status

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

STALE_AFTER, REAPER_EVERY = 5, 2


@pytest.fixture
def start_beat(service_env, redis_client, tmp_path) -> Iterator[Callable[[], WorkerProcess]]:
    """A real ``celery beat`` process, separate from any worker (the production layout)."""
    started: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        log_path = tmp_path / f"beat-{len(started)}.log"
        env = {**service_env, "INSIDERS_STALE_AFTER_SECONDS": str(STALE_AFTER),
               "INSIDERS_REAPER_EVERY_SECONDS": str(REAPER_EVERY)}
        command = [sys.executable, "-m", "celery", "-A", "tests.integration.worker_app", "beat",
                   "--loglevel=INFO", f"--schedule={tmp_path / 'celerybeat-schedule'}"]
        with open(log_path, "w") as log_file:
            process = subprocess.Popen(command, cwd=REPO, env=_clean_env(env), stdout=log_file,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        beat = WorkerProcess(process, log_path)
        started.append(beat)
        beat.wait_for_log("reaper: failing runs silent")
        return beat

    yield start
    for beat in started:
        beat.stop()


@pytest.fixture
def loaded_db(clean_db, synthetic_file, redis_client):
    redis_client.flushdb()
    ingest_file(clean_db, synthetic_file, profile="default")
    return clean_db


def _wait_for_stage(engine, run_id: int, stage: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            row = connection.execute(text("SELECT progress_stage FROM runs WHERE id = :id"),
                                     {"id": run_id}).one()
        if row.progress_stage == stage:
            return
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} never reached {stage!r}")


def test_beat_fails_a_run_whose_only_worker_was_killed(
    loaded_db, start_worker, start_beat, test_app
):
    engine = loaded_db
    worker = start_worker(segment="slow_segment", name="doomed")
    beat = start_beat()
    run, _ = request_run(engine, trigger="manual", enqueue=lambda i: send_run_task(i, test_app))
    _wait_for_stage(engine, run.id, "slow stage")
    worker.kill_9()
    killed_at = time.monotonic()
    row = wait_for_status(engine, run.id, ("failed",), timeout=STALE_AFTER + 60)
    elapsed = time.monotonic() - killed_at
    print(f"run failed {elapsed:.1f} s after kill -9 (stale after {STALE_AFTER} s)")
    assert elapsed < STALE_AFTER + 60
    assert "stopped sending heartbeats" in row["error"]
    assert row["active_slot"] is None
    assert f"run {run.id} failed" in beat.log()


def test_a_reaped_run_whose_worker_comes_back_publishes_nothing(
    loaded_db, start_worker, start_beat, test_app
):
    engine = loaded_db
    worker = start_worker(segment="pause_then_segment", name="paused")
    start_beat()
    run, _ = request_run(engine, trigger="manual", enqueue=lambda i: send_run_task(i, test_app))
    task_id = _task_id(engine, run.id)
    _wait_for_stage(engine, run.id, "slow stage")
    os.killpg(worker.process.pid, signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        row = wait_for_status(engine, run.id, ("failed",), timeout=STALE_AFTER + 60)
        assert time.monotonic() - stopped_at < STALE_AFTER + 60
    finally:
        os.killpg(worker.process.pid, signal.SIGCONT)
    # the worker goes on with the real pipeline and reaches the point where it would publish
    worker.wait_for_log(f"insiders.run_segmentation[{task_id}] succeeded", timeout=180)
    assert "'abandoned'" in worker.log().split(f"[{task_id}] succeeded")[-1].splitlines()[0]
    after = wait_for_status(engine, run.id, ("failed",), timeout=1)
    assert after["error"] == row["error"] and "heartbeat" in after["error"]
    assert count(engine, "customer_labels") == 0 and count(engine, "model_versions") == 0
    assert count(engine, "label_stage") == 0
    with session_scope(engine) as session:
        assert current_run(session) is None


def _task_id(engine, run_id: int, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            task_id = connection.execute(text("SELECT task_id FROM runs WHERE id = :id"),
                                         {"id": run_id}).scalar_one()
        if task_id:
            return task_id
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} was never claimed")


def _succeeded_run(engine) -> int:
    run, _ = request_run(engine, trigger="manual", enqueue=lambda _id: None)
    with session_scope(engine) as session:
        assert claim_run(session, run.id)
        assert mark_succeeded(session, run.id)
    return run.id


def test_reaped_run_cannot_publish_or_switch_the_current_run(loaded_db, service_settings):
    engine = loaded_db
    current = _succeeded_run(engine)
    run, _ = request_run(engine, trigger="manual", enqueue=lambda _id: None)

    def reaped_meanwhile(data, **_kwargs):
        with session_scope(engine) as session:
            later = utcnow() + timedelta(seconds=STALE_AFTER + 1)
            assert reap_stale_runs(session, stale_after_seconds=STALE_AFTER,
                                   queued_timeout_seconds=60, now=later) == [run.id]
        labels = data.features.head(0).assign(is_insiders=False)
        return SimpleNamespace(metrics={}, labels=labels, state=SimpleNamespace(version=9),
                               data_fingerprint="x", cleaning={}, refitted=True, report={})

    outcome = execute_run(run.id, engine=engine, settings=service_settings,
                          segment=reaped_meanwhile)
    assert outcome == "abandoned"
    with session_scope(engine) as session:
        assert current_run(session).id == current
    assert count(engine, "runs", "id = :id AND status = 'failed'", id=run.id) == 1
    assert count(engine, "model_versions") == 0


@pytest.mark.parametrize("reaped", [False, True], ids=["running", "reaped"])
def test_redelivery_of_a_running_or_reaped_run_does_nothing(loaded_db, service_settings, reaped):
    engine = loaded_db
    run, _ = request_run(engine, trigger="manual", enqueue=lambda _id: None)
    with session_scope(engine) as session:
        assert claim_run(session, run.id, task_id="first")
    if reaped:
        with session_scope(engine) as session:
            reap_stale_runs(session, stale_after_seconds=STALE_AFTER, queued_timeout_seconds=60,
                            now=utcnow() + timedelta(seconds=STALE_AFTER + 1))
    before = wait_for_status(engine, run.id, ("running", "failed"), timeout=1)

    def must_not_run(*_args, **_kwargs):
        raise AssertionError("a redelivered message ran the pipeline")

    outcome = execute_run(run.id, engine=engine, settings=service_settings,
                          task_id="second", segment=must_not_run)
    assert outcome == "skipped"
    assert wait_for_status(engine, run.id, (before["status"],), timeout=1) == before


def test_a_running_run_that_never_sent_a_heartbeat_is_reaped(clean_db):
    run, _ = request_run(clean_db, trigger="manual", enqueue=lambda _id: None)
    with clean_db.begin() as connection:
        connection.execute(text("UPDATE runs SET status = 'running', started_at = now(), "
                                "heartbeat_at = NULL WHERE id = :id"), {"id": run.id})
    with session_scope(clean_db) as session:
        assert reap_stale_runs(session, stale_after_seconds=STALE_AFTER,
                               queued_timeout_seconds=3600) == []
        reaped = reap_stale_runs(session, stale_after_seconds=STALE_AFTER,
                                 queued_timeout_seconds=3600,
                                 now=utcnow() + timedelta(seconds=STALE_AFTER + 1))
    assert reaped == [run.id]
    assert count(clean_db, "runs", "error LIKE '%never sent a heartbeat%'") == 1
