"""A scoring run through Celery in one process (not split) and in partitions with 1 and then 2
worker processes (separate ``celery worker`` commands, one child each), on the product's
synthetic customers.

    python benchmarks/partitions.py --database-url URL --redis-url URL [--customers 100000]
        [--partitions 8] [--repeat 2] [--reuse [--refit] --data-dir DIR]

Empties the database and the Redis db, ingests the synthetic set, refits in this process (as of
20 days before the last day; ``--reuse --refit``: only the refit, on the data left), then times
queue -> succeeded for scoring runs as of the last day, alternating one process, 1 and 2
workers; the workers are started fresh for each pair of runs: the first ("cold") loads the model
version in each worker process, the second ("warm") finds it loaded, as a long-lived worker
does (one process unpickles it for every run). Each run follows the refit run (the previous
scoring run is set aside). Prints the figures, the load average around each run and the
machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import migrations  # noqa: E402
from pipeline import synthetic  # noqa: E402
from settings import load_settings  # noqa: E402
from store.queue import request_run, send_run_task  # noqa: E402
from store.transactions import ingest_file  # noqa: E402
from worker.celery_app import create_app  # noqa: E402
from worker.runner import execute_run  # noqa: E402

MODES = (("one process", 1, 0), ("1 worker", 1, None), ("2 workers", 2, None))
"""(name, worker processes, partitions: 0 = not split, None = --partitions)."""


def environment(database_url: str, redis_url: str, data_dir: str, partitions: int) -> dict:
    return {"INSIDERS_ENV": "test", "INSIDERS_DATABASE_URL": database_url,
            "INSIDERS_BROKER_URL": redis_url, "INSIDERS_DATA_DIR": data_dir,
            "INSIDERS_PROFILE": "default", "INSIDERS_PARTITIONS": str(partitions),
            # not split unless INSIDERS_PARTITIONS says so
            "INSIDERS_PARTITION_ROWS": "100000000",
            "INSIDERS_HEARTBEAT_SECONDS": "2", "INSIDERS_STALE_AFTER_SECONDS": "60"}


def start_workers(count: int, env: dict, folder: Path) -> list[subprocess.Popen]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INSIDERS_")}
    clean.update(env, PYTHONPATH=str(ROOT))
    started = []
    for i in range(count):
        log = open(folder / f"worker-{count}-{i}.log", "w")  # noqa: SIM115 (kept open)
        started.append(subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
             "--pool=prefork", "--concurrency=1", "--loglevel=WARNING", "--without-mingle",
             "--without-gossip", f"--hostname=bench{i}@%h"],
            cwd=ROOT, env=clean, stdout=log, stderr=subprocess.STDOUT))
    time.sleep(12)  # imports of the pipeline, before the clock starts
    return started


def wait(engine, run_id: int, timeout: float = 1800) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            status = connection.execute(text("SELECT status FROM runs WHERE id = :id"),
                                        {"id": run_id}).scalar_one()
        if status in ("succeeded", "failed", "unchanged"):
            return status
        time.sleep(0.2)
    raise TimeoutError(f"run {run_id} still not finished")


def timed_run(engine, app, last: dt.date) -> tuple[float, float]:
    """Queue a scoring run as of ``last`` and time it to succeeded; then set it aside so the
    next run follows the same run. Returns the seconds and the load average before."""
    load = os.getloadavg()[0]
    run, _ = request_run(engine, trigger="cli", as_of=last,
                         enqueue=lambda run_id: send_run_task(run_id, app))
    started = time.perf_counter()
    status = wait(engine, run.id)
    seconds = time.perf_counter() - started
    assert status == "succeeded", status
    with engine.begin() as connection:
        connection.execute(text("UPDATE runs SET status = 'failed', active_slot = NULL "
                                "WHERE id = :id"), {"id": run.id})
    return seconds, load


def prepare(engine, args, folder: Path, settings) -> None:
    """Empty the database and Redis, ingest the synthetic customers, refit in this process."""
    import redis

    if args.reuse:
        with engine.begin() as connection:
            connection.execute(text("TRUNCATE runs, model_versions CASCADE"))
    else:
        with engine.begin() as connection:
            connection.execute(text("TRUNCATE runs, model_versions, transaction_batches, "
                                    "customer_days, rollup_batches, rollup_state CASCADE"))
        path = folder / "synthetic.csv"
        started = time.perf_counter()
        synthetic.generate_transactions(args.customers, seed=5).to_csv(path, index=False)
        ingest_file(engine, path, profile="default")
        print(f"{args.customers} customers generated and ingested in "
              f"{time.perf_counter() - started:.0f} s")
    redis.Redis.from_url(args.redis_url).flushdb()
    with engine.connect() as connection:
        last = connection.execute(text("SELECT MAX(day) FROM customer_days")).scalar_one()
    refit, _ = request_run(engine, trigger="cli", as_of=last - dt.timedelta(days=20),
                           refit=True, enqueue=lambda _id: None)
    started = time.perf_counter()
    assert execute_run(refit.id, engine=engine, settings=settings) == "succeeded"
    print(f"refit in this process: {time.perf_counter() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--reuse", action="store_true",
                        help="keep the data and model version a previous call left")
    parser.add_argument("--refit", action="store_true",
                        help="with --reuse: refit on the data left (a version of this code)")
    parser.add_argument("--data-dir", help="where the model key is kept (reuse: the same)")
    args = parser.parse_args()
    folder = Path(args.data_dir or tempfile.mkdtemp(prefix="partitions-bench-"))
    env = environment(args.database_url, args.redis_url, str(folder), args.partitions)
    settings = load_settings(env)
    os.environ.update(env)
    migrations.upgrade(args.database_url)
    engine = create_engine(args.database_url)
    if not args.reuse or args.refit:
        prepare(engine, args, folder, settings)
    with engine.connect() as connection:
        last = connection.execute(text("SELECT MAX(day) FROM customer_days")).scalar_one()
    app = create_app(settings)
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeat):
        for name, count, parts in MODES:
            env = environment(args.database_url, args.redis_url, str(folder),
                              args.partitions if parts is None else parts)
            workers = start_workers(count, env, folder)
            try:
                for state in ("cold", "warm"):
                    seconds, load = timed_run(engine, app, last)
                    times.setdefault((name, state), []).append(seconds)
                    print(f"scoring run, {name}, {state}: {seconds:.1f} s (load average "
                          f"{load:.1f} before, {os.getloadavg()[0]:.1f} after)", flush=True)
            finally:
                for process in workers:
                    process.terminate()
                    process.wait(timeout=60)
    for state in ("cold", "warm"):
        best = {name: min(times[name, state]) for name, _, _ in MODES}
        print(f"{state}, best of {args.repeat}: "
              + ", ".join(f"{k} {v:.1f} s" for k, v in best.items())
              + f"; 2 workers / 1 worker {best['2 workers'] / best['1 worker']:.2f}, "
              f"1 worker / one process {best['1 worker'] / best['one process']:.2f}")
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}")


if __name__ == "__main__":
    main()
