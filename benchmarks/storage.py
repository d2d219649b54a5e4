"""Disk per row: the real data ingested into PostgreSQL and run twice in process (a refit, then a
scoring run with that model version), then each table's size on disk (heap, indexes and TOAST)
divided by its rows. The README's sizing of "Scaling out" is derived from these figures.

    python benchmarks/storage.py

Uses the PostgreSQL database ``insiders_bench`` (INSIDERS_BENCH_DATABASE_URL; its tables are
emptied first) and the real data set from INSIDERS_REAL_DATA. Prints figures; writes nothing else.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import date
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import migrations  # noqa: E402
from benchmarks.worker import machine  # noqa: E402
from settings import load_settings  # noqa: E402
from store.queue import request_run  # noqa: E402
from store.transactions import ingest_file  # noqa: E402
from worker.runner import execute_run  # noqa: E402

PG_URL = os.environ.get(
    "INSIDERS_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/insiders_bench"
)
TABLES = ("transactions", "customer_days", "customer_labels", "forecasts", "membership_events",
          "clusters", "runs", "model_versions")
AS_OF = (date(2011, 11, 12), date(2011, 12, 9))


def sizes(engine) -> None:
    print(f"{'table':<20} {'rows':>10} {'MiB':>8} {'bytes/row':>10}")
    with engine.connect() as connection:
        for table in TABLES:
            rows = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            size = connection.execute(
                text("SELECT pg_total_relation_size(CAST(:t AS regclass))"), {"t": table}
            ).scalar_one()
            per_row = f"{size / rows:,.0f}" if rows else "-"
            print(f"{table:<20} {rows:>10,} {size / 2**20:>8.1f} {per_row:>10}")


def main() -> None:
    print(machine())
    settings = load_settings({"INSIDERS_DATABASE_URL": PG_URL, "INSIDERS_PROFILE": "online-retail"})
    migrations.upgrade(PG_URL)
    engine = create_engine(PG_URL)
    with engine.begin() as connection:
        names = ", ".join((*TABLES, "transaction_batches"))
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    started = time.perf_counter()
    ingest_file(engine, settings.real_data, profile="online-retail")
    print(f"ingest: {time.perf_counter() - started:.1f} s")
    for as_of in AS_OF:
        run, _ = request_run(engine, trigger="cli", requested_by="benchmark", as_of=as_of,
                             enqueue=lambda _run_id: None)
        started = time.perf_counter()
        outcome = execute_run(run.id, engine=engine, settings=settings)
        print(f"run as of {as_of}: {outcome} in {time.perf_counter() - started:.1f} s")
    with engine.connect() as connection:
        connection.execute(text("ANALYZE"))
    sizes(engine)


if __name__ == "__main__":
    main()
