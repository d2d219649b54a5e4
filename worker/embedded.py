"""Embedded mode: one worker per data folder, found through a file lock.

The embedded worker (``insiders worker`` or ``insiders demo`` without a broker URL) holds
``<data dir>/worker.lock``. A command that needs a run executed (``insiders run --wait``,
``insiders backfill``) starts a temporary worker process when nobody holds the lock.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from settings import Settings

LOCK_NAME = "worker.lock"


def _lock_path(settings: Settings) -> Path:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings.data_dir / LOCK_NAME


@contextmanager
def worker_lock(settings: Settings) -> Iterator[bool]:
    """Hold the embedded worker's lock for the block; yields False if another process has it."""
    with open(_lock_path(settings), "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def worker_running(settings: Settings) -> bool:
    """True when an embedded worker holds the lock of ``settings.data_dir``."""
    with worker_lock(settings) as acquired:
        return not acquired


@contextmanager
def worker_for_this_command(settings: Settings) -> Iterator[subprocess.Popen | None]:
    """In embedded mode with no worker running, run one (no beat) until the block ends."""
    if not settings.embedded or worker_running(settings):
        yield None
        return
    command = [
        sys.executable,
        "-m",
        "cli",
        "worker",
        "--no-beat",
        "--concurrency=1",
        "--loglevel=WARNING",
    ]
    with open(settings.data_dir / "worker.log", "ab") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """Warm shutdown (SIGTERM), then SIGKILL if the process does not end in ``timeout``."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    if process.poll() is None:
        process.kill()
        process.wait()


def prune_delivered_messages(settings: Settings, older_than_hours: int = 24) -> int:
    """Delete delivered task messages from the embedded broker's SQLite file.

    kombu's SQLAlchemy transport only hides a message once delivered and never deletes it;
    the reaper calls this so the file does not grow with every beat tick.
    """
    if not settings.broker_url.startswith("sqla+"):
        return 0
    engine = create_engine(settings.broker_url.removeprefix("sqla+"))
    try:
        if "kombu_message" not in inspect(engine).get_table_names():
            return 0
        # kombu stamps messages with local naive time
        cutoff = datetime.now() - timedelta(hours=older_than_hours)
        with engine.begin() as connection:
            result = connection.execute(
                text("DELETE FROM kombu_message WHERE visible = 0 AND timestamp < :cutoff"),
                {"cutoff": cutoff},
            )
        return result.rowcount
    finally:
        engine.dispose()
