"""Real services for the worker and store tests: PostgreSQL ``insiders_test``, Redis db 15,
and real Celery worker processes started with ``celery -A tests.integration.worker_app``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from tests.conftest import reach

REPO = Path(__file__).resolve().parents[2]
TABLES = (
    "membership_events, label_spans, label_stage, clusters, runs, model_versions, "
    "transactions, transaction_batches, audit_log, users"
)


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSIDERS_")}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """The test database at the latest schema (skips when PostgreSQL is not reachable)."""
    import migrations

    engine = create_engine(pg_url)
    reach(lambda: engine.connect().close(), f"PostgreSQL at {pg_url}")
    migrations.upgrade(pg_url)
    yield engine
    _truncate(engine)
    engine.dispose()


def _truncate(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))


@pytest.fixture
def clean_db(pg_engine: Engine) -> Iterator[Engine]:
    """Empty tables before and after the test."""
    _truncate(pg_engine)
    yield pg_engine
    _truncate(pg_engine)


@pytest.fixture(scope="session")
def redis_client(redis_url: str):
    import redis

    client = redis.Redis.from_url(redis_url)
    reach(client.ping, f"Redis at {redis_url}")
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture(scope="session")
def service_env(pg_url: str, redis_url: str, tmp_path_factory) -> dict[str, str]:
    """Settings for processes of these tests: fast heartbeats, a quick reaper."""
    return {
        "INSIDERS_ENV": "test",
        "INSIDERS_DATABASE_URL": pg_url,
        "INSIDERS_BROKER_URL": redis_url,
        "INSIDERS_DATA_DIR": str(tmp_path_factory.mktemp("insiders-data")),
        "INSIDERS_INBOX_DIR": str(tmp_path_factory.mktemp("inbox")),
        "INSIDERS_HEARTBEAT_SECONDS": "1",
        "INSIDERS_STALE_AFTER_SECONDS": "5",
        "INSIDERS_PROFILE": "default",
        "INSIDERS_TASK_SOFT_TIME_LIMIT": "300",
        "INSIDERS_TASK_HARD_TIME_LIMIT": "360",
    }


@pytest.fixture(scope="session")
def synthetic_file(tmp_path_factory) -> Path:
    """A small synthetic transactions file (300 customers), in the UCI column layout."""
    from pipeline import synthetic
    path = tmp_path_factory.mktemp("data") / "synthetic.csv"
    synthetic.generate_transactions(300, seed=3).to_csv(path, index=False)
    return path


@pytest.fixture
def service_settings(service_env, monkeypatch):
    """This process reads the same settings as the workers (trigger, reaper thresholds)."""
    for name, value in service_env.items():
        monkeypatch.setenv(name, value)
    from settings import load_settings

    return load_settings()


@pytest.fixture(scope="session")
def test_app(service_env):
    """A Celery app on the test broker, for sending tasks from this process."""
    from settings import load_settings
    from worker.celery_app import create_app

    return create_app(load_settings(service_env))


@pytest.fixture
def enqueue(test_app) -> Callable[[int], str]:
    from store.queue import send_run_task

    return lambda run_id: send_run_task(run_id, test_app)


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, needle: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited early:\n{self.log()[-3000:]}")
            time.sleep(0.2)
        raise AssertionError(f"{needle!r} not in the worker log after {timeout} s:\n"
                             f"{self.log()[-3000:]}")

    def kill_9(self) -> None:
        """SIGKILL the worker and its pool children (its own process group)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def launch_worker(env: dict[str, str], log_path: Path, name: str) -> WorkerProcess:
    """A real ``celery worker`` process (prefork, one child) with the settings ``env``, its
    output in ``log_path``; returned once it is ready."""
    command = [
        sys.executable, "-m", "celery", "-A", "tests.integration.worker_app", "worker",
        "--pool=prefork", "--concurrency=1", "--loglevel=INFO",
        "--without-mingle", "--without-gossip", f"--hostname={name}@%h",
    ]
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(command, cwd=REPO, env=_clean_env(env), stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    worker = WorkerProcess(process, log_path)
    worker.wait_for_log(" ready.")
    return worker


@pytest.fixture(scope="module")
def start_worker(
    service_env, redis_client, tmp_path_factory
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start a real ``celery worker`` process (prefork, one child); stopped after the module.

    Workers started one after another share the queue: stop one before starting the next.
    """
    started: list[WorkerProcess] = []
    tmp_path = tmp_path_factory.mktemp("workers")

    def start(segment: str | None = None, name: str = "worker") -> WorkerProcess:
        log_path = tmp_path / f"{name}-{len(started)}.log"
        extra = dict(service_env)
        if segment:
            extra["INSIDERS_TEST_SEGMENT"] = segment
        worker = launch_worker(extra, log_path, name)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def wait_for_status(engine: Engine, run_id: int, statuses: tuple[str, ...],
                    timeout: float = 180.0) -> dict:
    """Poll the run until its status is one of ``statuses``; returns the row as a dict."""
    deadline = time.monotonic() + timeout
    row = None
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT * FROM runs WHERE id = :id"), {"id": run_id}
            ).mappings().first()
        if row is not None and row["status"] in statuses:
            return dict(row)
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} not in {statuses} after {timeout} s: {row}")


def wait_for_files(engine: Engine, run_id: int, names: tuple[str, ...],
                   timeout: float = 60.0) -> None:
    """Poll until run ``run_id`` has its files ``names``: the worker writes them after it has
    published the run, so a reader can see the run a moment before them."""
    deadline = time.monotonic() + timeout
    found: set[str] = set()
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            found = set(connection.execute(
                text("SELECT name FROM run_files WHERE run_id = :id"), {"id": run_id}
            ).scalars())
        if found >= set(names):
            return
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} has files {sorted(found)}, not {names}, after {timeout} s")


def count(engine: Engine, table: str, where: str = "true", **params) -> int:
    with engine.connect() as connection:
        return int(connection.execute(
            text(f"SELECT count(*) FROM {table} WHERE {where}"), params
        ).scalar_one())


def run_cli(
    args: list[str], env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess:
    """``insiders ARGS`` in a fresh process with only ``env``'s INSIDERS_* settings."""
    command = [sys.executable, "-m", "cli", *args]
    return subprocess.run(command, cwd=REPO, env=_clean_env(env), capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def empty_pg_url(pg_engine, pg_url):
    """A brand-new PostgreSQL database, dropped after the test."""
    name = f"insiders_test_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield pg_url.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_url(request, tmp_path):
    """A brand-new database of each kind in turn: PostgreSQL (:func:`empty_pg_url`), SQLite."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    yield request.getfixturevalue("empty_pg_url")
