"""Store and worker figures: ingest rows/s into PostgreSQL, a real-data run through a Celery
worker (enqueue -> current), and writing 100k customers' labels (COPY vs row by row).

    python benchmarks/worker.py [--parts ingest,labels,run] [--baseline-rows N]

Uses the PostgreSQL database ``insiders_bench`` and Redis db 13 (emptied first), the real
data set from INSIDERS_REAL_DATA. Prints figures and the machine; writes nothing else.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, insert, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import migrations  # noqa: E402
from pipeline.columns import FEATURE_COLUMNS  # noqa: E402
from settings import load_settings  # noqa: E402

PG_URL = os.environ.get(
    "INSIDERS_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/insiders_bench"
)
REDIS_URL = os.environ.get("INSIDERS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
TABLES = (
    "membership_events, label_spans, label_stage, clusters, runs, model_versions, "
    "transactions, transaction_batches"
)


def machine() -> str:
    cpus = os.cpu_count()
    with open("/proc/meminfo") as handle:
        mem_kb = int(handle.readline().split()[1])
    with open("/proc/cpuinfo") as handle:
        model = next((line.split(":", 1)[1].strip() for line in handle
                      if line.startswith("model name")), platform.processor())
    return (f"{platform.system()} {platform.machine()}, {cpus} cores ({model}), "
            f"{mem_kb / 2**20:.0f} GiB RAM, Python {platform.python_version()}, "
            f"load average {os.getloadavg()[0]:.1f} at start")


def reset(engine) -> None:
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))


def bench_ingest(engine, path: Path) -> None:
    from pipeline.ingest import read_transactions
    from store.transactions import ingest_file, write_transactions

    reset(engine)
    start = time.perf_counter()
    outcome = ingest_file(engine, path, profile="online-retail")
    total = time.perf_counter() - start
    print(f"ingest (validate + COPY) of {path.name}: {outcome.n_rows:,} rows in {total:.1f} s "
          f"= {outcome.n_rows / total:,.0f} rows/s ({outcome.n_accepted:,} accepted)")
    frame = read_transactions(path).transactions
    reset(engine)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO transaction_batches (id, filename, content_sha256, profile, loaded_at,"
            " n_rows, n_accepted, n_rejected, rejected_by_reason) VALUES (1, 'bench', 'x',"
            " 'online-retail', now(), 0, 0, 0, '{}')"
        ))
    start = time.perf_counter()
    with engine.begin() as connection:
        write_transactions(connection, 1, frame)
    seconds = time.perf_counter() - start
    print(f"  of which the database write (COPY): {len(frame):,} rows in {seconds:.1f} s "
          f"= {len(frame) / seconds:,.0f} rows/s")
    reset(engine)


def bench_labels(engine, n: int, baseline_rows: int) -> None:
    from store.labels import LabelStage
    from store.results import labels_table, write_labels

    rng = np.random.default_rng(0)
    labels = pd.DataFrame(
        {"cluster": rng.integers(0, 7, n), "is_insiders": rng.random(n) < 0.1,
         "embedding_x": rng.normal(size=n), "embedding_y": rng.normal(size=n)},
        index=pd.Index(np.arange(1, n + 1, dtype="int64") + 10_000, name="customer_id"),
    )
    for name in FEATURE_COLUMNS:
        labels[name] = rng.gamma(2.0, 50.0, n)
    reset(engine)
    with engine.begin() as connection:
        for run_id in (1, 2, 3):
            connection.execute(text(
                "INSERT INTO runs (id, status, trigger, refit, queued_at, progress_percent,"
                " parameters, metrics, report) VALUES (:id, 'succeeded', 'cli', false, now(),"
                " 100, '{}', '{}', '{}')"
            ), {"id": run_id})

    def timed(run_id: int, how: str, frame: pd.DataFrame) -> float:
        start = time.perf_counter()
        with engine.begin() as connection:
            if how == "copy":
                write_labels(connection, run_id, frame)
            elif how == "executemany":
                records = labels_table(run_id, frame).to_dict(orient="records")
                connection.execute(insert(LabelStage.__table__), records)
            else:
                write_labels(connection, run_id, frame, method="rows")
        return time.perf_counter() - start

    copy_s = timed(1, "copy", labels)
    many_s = timed(2, "executemany", labels)
    rows_frame = labels.iloc[:baseline_rows]
    rows_s = timed(3, "rows", rows_frame)
    per_row = rows_s / len(rows_frame)
    print(f"labels of {n:,} customers: COPY {copy_s:.2f} s ({n / copy_s:,.0f} rows/s); "
          f"SQLAlchemy executemany {many_s:.2f} s ({n / many_s:,.0f} rows/s); "
          f"row by row {rows_s:.1f} s for {len(rows_frame):,} rows "
          f"({1 / per_row:,.0f} rows/s, {per_row * n:.0f} s for {n:,}) -> COPY is "
          f"{per_row * n / copy_s:.0f}x faster than row by row")
    reset(engine)


def bench_run(engine, path: Path) -> None:
    import redis

    from store.queue import request_run, send_run_task
    from store.transactions import ingest_file
    from worker.celery_app import create_app

    reset(engine)
    redis.Redis.from_url(REDIS_URL).flushdb()
    ingest_file(engine, path, profile="online-retail")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSIDERS_")}
    env.update({"INSIDERS_DATABASE_URL": PG_URL, "INSIDERS_BROKER_URL": REDIS_URL,
                "INSIDERS_PROFILE": "online-retail", "PYTHONPATH": str(ROOT),
                "INSIDERS_DATA_DIR": str(ROOT / ".insiders" / "bench")})
    log_path = ROOT / ".insiders" / "bench-worker.log"
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
             "--pool=prefork", "--concurrency=1", "--loglevel=WARNING",
             "--without-mingle", "--without-gossip"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        time.sleep(5)
        app = create_app(load_settings(env))
        start = time.perf_counter()
        run, _ = request_run(engine, trigger="cli", requested_by="bench",
                             enqueue=lambda run_id: send_run_task(run_id, app))
        stages: list[tuple[str, float]] = []
        while True:
            with engine.connect() as connection:
                row = connection.execute(text(
                    "SELECT status, progress_stage, error, n_customers, n_insiders, metrics "
                    "FROM runs WHERE id = :id"), {"id": run.id}).one()
            if not stages or stages[-1][0] != row.progress_stage:
                stages.append((row.progress_stage, time.perf_counter() - start))
            if row.status in ("succeeded", "failed"):
                break
            time.sleep(0.2)
        seconds = time.perf_counter() - start
        if row.status == "failed":
            print(f"real-data run FAILED after {seconds:.1f} s: {row.error}")
            return
        print(f"real-data run through the worker (enqueue -> current): {seconds:.1f} s, "
              f"{row.n_customers:,} customers, {row.n_insiders:,} Insiders")
        print("  stages (s from enqueue): " + ", ".join(f"{s} {t:.1f}" for s, t in stages))
        pipeline_seconds = (row.metrics or {}).get("seconds")
        if pipeline_seconds:
            print(f"  pipeline seconds by stage: {pipeline_seconds}")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        reset(engine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="ingest,labels,run",
                        help="Comma-separated parts to run (default: all).")
    parser.add_argument("--labels", type=int, default=100_000)
    parser.add_argument("--baseline-rows", type=int, default=100_000,
                        help="Rows for the row-by-row baseline (fewer: extrapolated).")
    args = parser.parse_args()
    path = load_settings().real_data
    if not path.exists():
        sys.exit(f"real data not found at {path} (set INSIDERS_REAL_DATA)")
    (ROOT / ".insiders").mkdir(exist_ok=True)
    print(f"machine: {machine()}")
    print(f"database: PostgreSQL {PG_URL.rsplit('@', 1)[-1]}, broker: Redis {REDIS_URL}")
    migrations.upgrade(PG_URL)
    engine = create_engine(PG_URL)
    parts = set(args.parts.split(","))
    if "ingest" in parts:
        bench_ingest(engine, path)
    if "labels" in parts:
        bench_labels(engine, args.labels, args.baseline_rows)
    if "run" in parts:
        bench_run(engine, path)


if __name__ == "__main__":
    main()
