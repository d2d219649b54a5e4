"""A scoring run in partitions with real PostgreSQL, Redis and Celery worker processes: the same
labels, events, forecasts and clusters as one process; a partition scored twice leaves one set of
rows; one of two workers killed mid-run still ends in a succeeded run, every customer once.

The model version is fitted on the 1,500 customers of a small synthetic set, so it would place
customers with UMAP's exact transform; the test switches it to the fast scorer (which a model
fitted on a sample of a large set uses), the only placement a run is split with.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import time
from itertools import pairwise

import pandas as pd
import pytest
from sqlalchemy import text

from pipeline.partition_scoring import SCORES_PER_CUSTOMER
from store import insiders_file, partitions, run_changes, run_files, run_index
from store.db import session_scope
from store.forecasts import read_forecasts
from store.queue import request_run, send_run_task
from store.results import latest_model_state, load_labels
from store.transactions import ingest_file

from .conftest import (
    WorkerProcess,
    _truncate,
    launch_worker,
    wait_for_files,
    wait_for_status,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

N_PARTITIONS = 3


def _settings(service_env, **extra):
    from settings import load_settings

    return load_settings({**service_env, **extra})


@pytest.fixture(scope="module")
def fitted(pg_engine, redis_client, service_env, tmp_path_factory):
    """1,500 synthetic customers, a model version fitted 20 days before the last day (switched
    to the fast scorer) and the last day, the date the scoring runs are made as of."""
    from pipeline import synthetic
    from worker.runner import execute_run

    _truncate(pg_engine)
    redis_client.flushdb()
    path = tmp_path_factory.mktemp("partitions") / "synthetic.csv"
    synthetic.generate_transactions(1500, seed=11).to_csv(path, index=False)
    ingest_file(pg_engine, path, profile="default")
    with pg_engine.connect() as connection:
        last = connection.execute(text("SELECT MAX(day) FROM customer_days")).scalar_one()
    settings = _settings(service_env)
    run, _ = request_run(pg_engine, trigger="cli", as_of=last - dt.timedelta(days=20),
                         refit=True, enqueue=lambda _id: None)
    assert execute_run(run.id, engine=pg_engine, settings=settings) == "succeeded"
    key = settings.model_artifact_key()
    with pg_engine.begin() as connection:
        state = latest_model_state(connection, key)
        state.model.set_params(scoring="fast")
        stored = {**state.parameters, SCORES_PER_CUSTOMER: True}
        connection.execute(text("UPDATE model_versions SET artifact = :a, parameters = :p "
                                "WHERE version = :v"),
                           {"a": state.to_bytes(key), "p": json.dumps(stored),
                            "v": state.version})
    yield pg_engine, last
    _truncate(pg_engine)
    redis_client.flushdb()


def _snapshot(engine, run_id: int) -> dict:
    with engine.connect() as connection:
        def read(sql: str) -> pd.DataFrame:
            return pd.read_sql_query(text(sql), connection, params={"id": run_id})

        return {
            "labels": load_labels(connection, run_id),
            "events": read("SELECT customer_id, kind, cause, reason FROM membership_events "
                           "WHERE run_id = :id ORDER BY customer_id, kind").reset_index(drop=True),
            "forecasts": read_forecasts(connection, run_id),
            "clusters": read("SELECT cluster, name, is_insiders, size FROM clusters "
                             "WHERE run_id = :id ORDER BY cluster"),
            "run": read("SELECT status, n_customers, n_insiders, model_version, insiders_share, "
                        "revenue_share, silhouette, data_fingerprint FROM runs "
                        "WHERE id = :id").iloc[0].to_dict(),
            "report": connection.execute(text("SELECT report FROM runs WHERE id = :id"),
                                         {"id": run_id}).scalar_one(),
        }


def _set_aside(engine, run_id: int) -> None:
    """Take a finished run out of the history, so the next run follows the same run it did."""
    with engine.begin() as connection:
        connection.execute(text("UPDATE runs SET status = 'failed', active_slot = NULL "
                                "WHERE id = :id"), {"id": run_id})


@pytest.fixture(scope="module")
def single(fitted, service_env):
    """A scoring run in this process, in one piece (no partitions)."""
    from worker.runner import execute_run

    engine, last = fitted
    run, _ = request_run(engine, trigger="cli", as_of=last, enqueue=lambda _id: None)
    settings = _settings(service_env, INSIDERS_PARTITION_ROWS="1000000")
    assert execute_run(run.id, engine=engine, settings=settings) == "succeeded"
    snapshot = _snapshot(engine, run.id)
    assert not partitions.status(engine.connect(), run.id)["total"]
    _set_aside(engine, run.id)
    return snapshot


@pytest.fixture(scope="module")
def two_workers(service_env, redis_client, tmp_path_factory):
    """Two ``celery worker`` processes (one child each) splitting runs in 3 partitions."""
    started: list[WorkerProcess] = []
    folder = tmp_path_factory.mktemp("partition-workers")

    def start(name: str) -> WorkerProcess:
        worker = launch_worker({**service_env, "INSIDERS_PARTITIONS": str(N_PARTITIONS)},
                               folder / f"{name}.log", name)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _partitioned_run(engine, last, test_app) -> int:
    run, created = request_run(engine, trigger="cli", as_of=last,
                               enqueue=lambda run_id: send_run_task(run_id, test_app))
    assert created
    return run.id


def _assert_same(got: dict, want: dict) -> None:
    pd.testing.assert_frame_equal(got["labels"], want["labels"])
    pd.testing.assert_frame_equal(got["events"], want["events"])
    pd.testing.assert_frame_equal(got["forecasts"], want["forecasts"])
    pd.testing.assert_frame_equal(got["clusters"], want["clusters"])
    assert got["run"] == want["run"]
    assert not _differences(got["report"], want["report"])


def _differences(got, want, path: str = "report") -> list[str]:
    """Where two stored reports differ (how long a step took aside)."""
    if isinstance(got, dict) and isinstance(want, dict):
        return [d for key in sorted(set(got) | set(want), key=str) if "seconds" not in key
                for d in _differences(got.get(key), want.get(key), f"{path}.{key}")]
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        return [d for i, (a, b) in enumerate(zip(got, want, strict=True))
                for d in _differences(a, b, f"{path}[{i}]")]
    return [] if got == want else [f"{path}: {got!r:.80} != {want!r:.80}"]


def test_a_partitioned_run_equals_the_run_in_one_process(fitted, single, two_workers, test_app):
    engine, last = fitted
    workers = [two_workers("first"), two_workers("second")]
    run_id = _partitioned_run(engine, last, test_app)
    row = wait_for_status(engine, run_id, ("succeeded", "failed", "unchanged"), timeout=240)
    assert row["status"] == "succeeded", row["error"]
    assert row["parameters"]["partitions"] == N_PARTITIONS
    with engine.connect() as connection:
        counts = partitions.status(connection, run_id)
        n_workers = connection.execute(text(
            "SELECT COUNT(DISTINCT worker) FROM run_partitions WHERE run_id = :id"),
            {"id": run_id}).scalar_one()
    assert counts == {"pending": 0, "running": 0, "done": N_PARTITIONS, "total": N_PARTITIONS}
    assert n_workers >= 1
    got = _snapshot(engine, run_id)
    assert len(single["labels"]) > 1000
    assert single["events"].shape[0] > 0 and single["forecasts"].shape[0] > 0
    _assert_same(got, single)
    wait_for_files(engine, run_id, (run_files.INSIDERS_CSV, run_index.INDEX_FILE,
                                    run_index.MAP_FILE, run_changes.CHANGES_FILE))
    stored = run_files.read_file(engine, run_id, run_files.INSIDERS_CSV)
    assert stored == insiders_file.insiders_csv(engine, run_id)
    assert len(pd.read_csv(io.StringIO(stored))) == row["n_insiders"]
    index = run_index.read_index(engine, run_id)  # the dashboard compares runs with it
    assert len(index) == row["n_customers"] and index.is_insiders.sum() == row["n_insiders"]
    points = run_index.read_points(engine, run_id, row["n_customers"],
                                   run_index.MAX_MAP_POINTS)
    assert points is not None and points["is_insiders"].sum() == row["n_insiders"]
    changes, previous, _currency = run_changes.read(engine, run_id)  # against the refit run
    with engine.connect() as connection:
        events = set(connection.execute(text(
            "SELECT customer_id, kind FROM membership_events WHERE run_id = :id "
            "AND previous_run_id = :previous"), {"id": run_id, "previous": previous}).all())
    assert events and events == set(changes.loc[changes["cause"].notna(),
                                                 ["customer_id", "kind"]].itertuples(index=False))
    _set_aside(engine, run_id)
    for worker in workers:
        worker.stop()


def test_a_partition_scored_again_replaces_its_rows(fitted, single, service_env):
    """A redelivered partition (here: its task body run twice in this process, the partition
    put back to pending between) leaves one set of rows, equal to the first."""
    from worker.partition_run import start
    from worker.partitions import _claim, _do

    engine, last = fitted
    settings = _settings(service_env)
    run, _ = request_run(engine, trigger="cli", as_of=last, enqueue=lambda _id: None)
    with session_scope(engine) as session:
        from store.runs import claim_run, previous_run

        assert claim_run(session, run.id)
        previous = previous_run(session, last, run.id)
    with engine.connect() as connection:
        state = latest_model_state(connection, settings.model_artifact_key())
        ranges = partitions.customer_ranges(connection, last, rows=1, fixed=2)
    sent = []
    import worker.celery_app as celery_app

    original = celery_app.app.send_task
    celery_app.app.send_task = lambda *args, **kwargs: sent.append(kwargs["args"])
    try:
        start(run.id, ranges, engine=engine, parameters={}, as_of=last,
              version=int(state.version), previous_run_id=previous.id)
    finally:
        celery_app.app.send_task = original
    # the forecast check first, then both ranges, then the silhouette and the report
    assert [args[1] for args in sent] == [2, 0, 1, 3, 4]
    hi = ranges[0].hi

    def rows() -> int:
        with engine.connect() as connection:
            return connection.execute(text(
                "SELECT COUNT(*) FROM label_stage WHERE run_id = :id AND customer_id < :hi"
            ), {"id": run.id, "hi": hi}).scalar_one()

    # the report waits for every range to be scored
    assert _claim(engine, run.id, settings, "test", 4) is None
    taken = _claim(engine, run.id, settings, "test", 0)
    _do(run.id, *taken, engine=engine, settings=settings)
    first = rows()
    with engine.begin() as connection:
        connection.execute(text("UPDATE run_partitions SET status = 'pending' "
                                "WHERE run_id = :id AND partition = 0"), {"id": run.id})
    taken = _claim(engine, run.id, settings, "test", 0)
    assert taken == (0, 2)
    _do(run.id, *taken, engine=engine, settings=settings)
    assert rows() == first == (single["labels"].index < hi).sum()
    # a late attempt of a partition already done writes nothing
    assert _claim(engine, run.id, settings, "test", 0) is None
    _set_aside(engine, run.id)


def test_killing_one_of_two_workers_mid_run_still_succeeds(fitted, single, two_workers,
                                                           test_app):
    engine, last = fitted
    victims = {w.process.pid: w for w in [two_workers("third"), two_workers("fourth")]}
    run_id = _partitioned_run(engine, last, test_app)
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline:
        with engine.connect() as connection:
            working = connection.execute(text(
                "SELECT partition, worker FROM run_partitions WHERE run_id = :id "
                "AND status = 'running'"), {"id": run_id}).all()
        for partition, worker in working:
            pid = int(worker.rsplit(":", 1)[1])
            try:
                group = os.getpgid(pid)
            except ProcessLookupError:
                continue
            if group in victims:
                victims.pop(group).kill_9()
                killed = partition
                break
        time.sleep(0.02)
    assert killed is not None, "no partition was seen running"
    row = wait_for_status(engine, run_id, ("succeeded", "failed"), timeout=240)
    assert row["status"] == "succeeded", row["error"]
    with engine.connect() as connection:
        attempts = connection.execute(text(
            "SELECT attempts, status FROM run_partitions WHERE run_id = :id AND partition = :p"),
            {"id": run_id, "p": killed}).one()
        labelled = connection.execute(text(
            "SELECT COUNT(*), COUNT(DISTINCT customer_id) FROM customer_labels "
            "WHERE run_id = :id"), {"id": run_id}).one()
    assert attempts.status == "done"
    assert labelled[0] == labelled[1] == len(single["labels"]) == row["n_customers"]
    _assert_same(_snapshot(engine, run_id), single)
    print(f"killed partition {killed}: done after {attempts.attempts} attempts")


def test_ranges_hold_every_customer_once_in_about_equal_parts(fitted, single):
    engine, last = fitted
    ids = single["labels"].index.to_numpy()
    with engine.connect() as connection:
        ranges = partitions.customer_ranges(connection, last, rows=1, fixed=4)
        one = partitions.customer_ranges(connection, last, rows=10_000)
    assert ranges[0].lo is None and ranges[-1].hi is None and len(ranges) == 4
    assert all(a.hi == b.lo for a, b in pairwise(ranges))
    sizes = [int(((ids >= (ids[0] if r.lo is None else r.lo))
                  & (ids <= (ids[-1] if r.hi is None else r.hi - 1))).sum()) for r in ranges]
    assert sum(sizes) == len(ids)
    assert max(sizes) - min(sizes) <= len(ids) // 20
    assert one == [partitions.CustomerRange(None, None)]


def test_the_split_is_decided_without_unpickling_the_model(fitted, service_env):
    """With a wrong artifact key, unpickling the version would fail its signature check: the
    split is read from the version's stored parameters."""
    from store.partition_data import version_facts
    from worker.partition_run import plan

    engine, last = fitted
    settings = _settings(service_env, INSIDERS_PARTITIONS="3",
                         INSIDERS_ARTIFACT_KEY="ab" * 32)
    with engine.connect() as connection:
        facts = version_facts(connection)
    assert len(plan(engine, settings, facts=facts, refit=False, as_of=last)) == 3
    assert plan(engine, settings, facts=facts, refit=True, as_of=last) == []
