"""The run steps of ``benchmarks/scale.py``: runs through real ``insiders worker`` commands.

Each step starts its workers as separate commands (``python -m cli worker --concurrency 1``,
the ``insiders worker`` entry point) with the settings pointing at the benchmark's database and
broker, queues runs as the dashboard or the beat would, and times them from queued to
succeeded; a thread reads ``/proc`` every quarter second for the workers' process trees (the
sum of their resident memory, and each process's own peak, ``VmHWM``).

* ``refit``: a refit run as of 20 days before the last day, one worker process;
* ``scoring``: a scoring run as of the last day with 1, then 2 worker processes (the first is
  set aside afterwards, so the second is not "unchanged"; it stays the current run);
* ``real``: the real data set, ingested, refitted and scored through one worker (run it last:
  it empties the database).

The daily steps (one more day ingested and scored, one dropped into the inbox) are in
``benchmarks/scale_daily.py``.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BROKER_DB_DEFAULT = "redis://127.0.0.1:6379/12"
REFIT_DAYS_BEFORE = 20
FINISHED = ("succeeded", "failed", "unchanged")


def worker_environment(scale) -> dict[str, str]:
    """The settings every process of the run steps shares (the benchmark's own included)."""
    folder = scale.path.parent
    return {"INSIDERS_DATABASE_URL": scale.database_url, "INSIDERS_BROKER_URL": scale.redis_url,
            "INSIDERS_DATA_DIR": str(folder / "data"), "INSIDERS_PROFILE": "online-retail",
            "INSIDERS_INBOX_DIR": str(folder / "inbox")}


def prepare(scale) -> None:
    """This process talks to the same database and broker as the workers; the schema is
    brought up to date (a worker refuses an older one)."""
    env = worker_environment(scale)
    os.environ.update(env)
    Path(env["INSIDERS_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    if scale.code not in sys.path:
        sys.path.insert(0, scale.code)
    import migrations  # deferred: the benchmark chooses the checkout

    migrations.upgrade(scale.database_url)


# ---------------------------------------------------------------- workers and their memory


class TreeMemory:
    """Polls the process trees under ``roots``: peak summed RSS and the largest own peak."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots
        self.peak_sum = 0
        self.peak_one = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def stop(self) -> tuple[float, float]:
        """(peak of the trees' summed RSS, largest single process's peak), in MiB."""
        self._stop.set()
        self._thread.join()
        return self.peak_sum / 1024, self.peak_one / 1024

    def _poll(self) -> None:
        while not self._stop.is_set():
            total = 0
            for pid in _tree(self.roots):
                rss, hwm = _status_kib(pid)
                total += rss
                self.peak_one = max(self.peak_one, hwm)
            self.peak_sum = max(self.peak_sum, total)
            self._stop.wait(0.25)


def _tree(roots: list[int]) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(roots), list(roots)
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in found]
        found.update(children)
        frontier.extend(children)
    return sorted(found)


def _status_kib(pid: int) -> tuple[int, int]:
    rss = hwm = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


@contextmanager
def workers(scale, count: int, label: str) -> Iterator[TreeMemory]:
    """``count`` separate worker commands, ready; yields their memory watcher."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSIDERS_")}
    env.update(worker_environment(scale), PYTHONPATH=scale.code)
    folder = scale.path.parent
    started, logs = [], []
    for i in range(count):
        log = folder / f"worker-{label}-{i}.log"
        logs.append(log)
        with open(log, "w") as out:
            started.append(subprocess.Popen(
                [sys.executable, "-m", "cli", "worker", "--concurrency", "1", "--loglevel", "INFO"],
                cwd=scale.code, env=env, stdout=out, stderr=subprocess.STDOUT))
    deadline = time.monotonic() + 120
    while not all("ready." in log.read_text() for log in logs):
        if time.monotonic() > deadline or any(p.poll() is not None for p in started):
            raise RuntimeError(f"a worker did not start: see {logs}")
        time.sleep(0.5)
    watcher = TreeMemory([p.pid for p in started])
    try:
        yield watcher
    finally:
        watcher.stop()
        for process in started:
            process.terminate()
        for process in started:
            process.wait(timeout=120)


# ---------------------------------------------------------------- runs


def connect(scale):
    from sqlalchemy import create_engine  # deferred: the benchmark chooses the checkout

    return create_engine(scale.database_url)


def scalar(engine, sql: str, **params):
    from sqlalchemy import text  # deferred: the benchmark chooses the checkout

    with engine.connect() as connection:
        return connection.execute(text(sql), params).scalar()


def execute(engine, sql: str, **params) -> None:
    from sqlalchemy import text  # deferred: the benchmark chooses the checkout

    with engine.begin() as connection:
        connection.execute(text(sql), params)


def wait_run(engine, run_id: int, timeout: float = 3600) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = scalar(engine, "SELECT status FROM runs WHERE id = :id", id=run_id)
        if status in FINISHED:
            return status
        time.sleep(0.2)
    raise TimeoutError(f"run {run_id} still not finished after {timeout:.0f} s")


def timed_run(scale, engine, *, as_of: dt.date | None, refit: bool = False) -> tuple[int, float]:
    """Queue a run through the broker, wait for it: (run id, seconds queued -> succeeded)."""
    from store.queue import request_run, send_run_task  # deferred: the checkout is chosen

    started = time.perf_counter()
    run, created = request_run(engine, trigger="cli", as_of=as_of, refit=refit,
                               enqueue=send_run_task)
    assert created, f"run {run.id} was already active"
    status = wait_run(engine, run.id)
    seconds = time.perf_counter() - started
    if status != "succeeded":
        error = scalar(engine, "SELECT error FROM runs WHERE id = :id", id=run.id)
        raise RuntimeError(f"run {run.id} {status}: {error}")
    return run.id, seconds


def _last_day(engine) -> dt.date:
    return scalar(engine, "SELECT MAX(day) FROM customer_days")


def run_facts(engine, run_id: int) -> str:
    customers = scalar(engine, "SELECT n_customers FROM runs WHERE id = :id", id=run_id)
    parts = scalar(engine, "SELECT count(*) FROM run_partitions WHERE run_id = :id "
                            "AND kind = 'score'", id=run_id)
    return f"{customers or 0:,} customers, {parts or 'not split into'} partitions"


def cpu_ticks() -> tuple[int, int]:
    """The machine's busy and total CPU ticks so far (``/proc/stat``, every core)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle and waiting for input/output
    return sum(values) - idle, sum(values)


def busy_cores(since: tuple[int, int]) -> str:
    """How many cores the machine kept busy on average since ``since`` (:func:`cpu_ticks`):
    the workers, PostgreSQL and anything else running. A run that keeps ``c`` of ``n`` cores
    busy with one worker cannot get faster than ``c / n`` of its time with more workers."""
    busy, total = cpu_ticks()
    cores = os.cpu_count() or 1
    share = (busy - since[0]) / max(1, total - since[1])
    return f"{share * cores:.2f} of {cores} cores busy"


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f} (5 min {five:.1f})"


@dataclass
class MeasuredRun:
    """A run through ``count`` worker processes: its id and seconds, the load before it, the
    cores busy meanwhile, the workers' summed and largest peak memory (MiB)."""

    run_id: int
    seconds: float
    before: str
    cpu: str
    tree: float
    one: float

    def timing(self, engine, as_of: dt.date | None = None) -> str:
        on = f" as of {as_of}" if as_of else ""
        return (f"**{self.seconds:.1f} s**{on} ({run_facts(engine, self.run_id)}); "
                f"{self.before}, after {load_average()}; {self.cpu}")


def measured_run(scale, engine, count: int, label: str, *, as_of: dt.date,
                 refit: bool = False) -> MeasuredRun:
    with workers(scale, count, label) as memory:
        before, ticks = load_average(), cpu_ticks()
        run_id, seconds = timed_run(scale, engine, as_of=as_of, refit=refit)
        cpu = busy_cores(ticks)
    tree, one = memory.stop()
    return MeasuredRun(run_id, seconds, before, cpu, tree, one)


def refit(scale) -> list[tuple[str, str]]:
    import redis  # deferred: only the run steps need the broker

    prepare(scale)
    engine = connect(scale)
    execute(engine, "TRUNCATE runs, model_versions CASCADE")
    redis.Redis.from_url(scale.redis_url).flushdb()
    as_of = _last_day(engine) - dt.timedelta(days=REFIT_DAYS_BEFORE)
    run = measured_run(scale, engine, 1, "refit", as_of=as_of, refit=True)
    out = [("refit run, 1 worker process", run.timing(engine, as_of)),
           ("refit run: peak memory", f"worker tree {run.tree:,.0f} MiB, largest process "
                                      f"**{run.one:,.0f} MiB**")]
    engine.dispose()
    return out


def refit_again(scale) -> list[tuple[str, str]]:
    """A refit as of the last day after the ``refit`` and ``scoring`` steps: what a scheduled
    refit reads (the version it replaces, the previous run's labels) besides the data."""
    prepare(scale)
    engine = connect(scale)
    run = measured_run(scale, engine, 1, "refit-again", as_of=_last_day(engine), refit=True)
    out = [("refit run after a version and a run, 1 worker process", run.timing(engine)),
           ("refit run after a version and a run: peak memory",
            f"worker tree {run.tree:,.0f} MiB, largest process **{run.one:,.0f} MiB**")]
    engine.dispose()
    return out


def scoring(scale) -> list[tuple[str, str]]:
    prepare(scale)
    engine = connect(scale)
    last = _last_day(engine)
    out, times = [], {}
    for count in (1, 2):
        run = measured_run(scale, engine, count, f"scoring{count}", as_of=last)
        times[count] = run.seconds
        out += [(f"scoring run, {count} worker process{'es' if count > 1 else ''}",
                 run.timing(engine, last)),
                (f"scoring run, {count}: peak memory",
                 f"worker trees {run.tree:,.0f} MiB, largest process **{run.one:,.0f} MiB**")]
        if count == 1:  # set aside, so the next run on this date is not "unchanged"
            execute(engine, "UPDATE runs SET status = 'failed', active_slot = NULL, "
                             "error = 'set aside by the benchmark' WHERE id = :id",
                    id=run.run_id)
    out.append(("scoring run: 2 workers / 1", f"**{times[2] / times[1]:.2f}**"))
    engine.dispose()
    return out


def real(scale) -> list[tuple[str, str]]:
    """The real data through the worker: a refit 20 days before its last day, then a scoring
    run as of the last day (1 worker process). Empties the database first: run it last."""
    if not scale.real_data:
        return [("real data", "not measured (no --real-data)")]
    from benchmarks.scale import _ingest, in_child  # deferred: scale imports this module

    prepare(scale)
    (rows, _, ingest_seconds), _ = in_child(_ingest, scale.code, scale.database_url,
                                            scale.real_data, scale.piece_rows)
    engine = connect(scale)
    execute(engine, "TRUNCATE runs, model_versions CASCADE")
    last = _last_day(engine)
    with workers(scale, 1, "real") as memory:
        _, refit_seconds = timed_run(scale, engine, as_of=last - dt.timedelta(
            days=REFIT_DAYS_BEFORE), refit=True)
        load = load_average()
        run_id, seconds = timed_run(scale, engine, as_of=last)
    _, one = memory.stop()
    facts = run_facts(engine, run_id)
    engine.dispose()
    return [("real data: ingest", f"{rows:,} rows in {ingest_seconds:.1f} s"),
            ("real data: refit run, 1 worker process", f"{refit_seconds:.1f} s"),
            ("real data: scoring run, 1 worker process", f"**{seconds:.1f} s** as of {last} "
                                                         f"({facts}); {load}; largest process "
                                                         f"{one:,.0f} MiB")]
