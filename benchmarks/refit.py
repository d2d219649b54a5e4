"""A refit run through the worker's executor on synthetic customers: seconds and peak memory
(max RSS) of the process, each run in a fresh child process, optionally with the product
imported from another checkout (a before/after comparison on the same machine and data).

    python benchmarks/refit.py --database-url postgresql+psycopg://USER@HOST/DB
                               [--customers 100000] [--seed 0] [--repeats 2]
                               [--code DIR ...]

The database is used as it is when it holds transactions already (from an earlier call or
``benchmarks/scale.py``); otherwise the product's generator writes ``--customers`` customers
to a temporary Parquet file and ingests them. Before each run its runs and model versions are
emptied, so every run is a first refit (no previous labels). Each ``--code`` checkout (default:
this one) runs ``--repeats`` times, interleaved. Prints the figures and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def machine() -> str:
    cpus = os.cpu_count()
    with open("/proc/meminfo") as handle:
        mem_kb = int(handle.readline().split()[1])
    return (f"{platform.system()} {platform.machine()}, {cpus} cores, "
            f"{mem_kb / 2**20:.0f} GiB RAM, Python {platform.python_version()}, "
            f"load average {os.getloadavg()[0]:.1f} at start")


def prepare(url: str, customers: int, seed: int) -> None:
    """Ingest ``customers`` synthetic customers unless the database holds transactions."""
    from sqlalchemy import text

    import migrations
    from pipeline.synthetic import write_synthetic
    from store.db import make_engine
    from store.transactions import ingest_file

    migrations.upgrade(url)
    engine = make_engine(url)
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT COUNT(*) FROM transaction_batches")).scalar()
    if stored:
        print("database holds transactions already: used as they are")
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "synthetic.parquet"
        rows = write_synthetic(path, customers, seed=seed)
        started = time.perf_counter()
        ingest_file(engine, path, profile="online-retail")
        print(f"ingested {rows} rows in {time.perf_counter() - started:.1f} s")
    engine.dispose()


def child(url: str) -> None:
    """One refit run, queued and executed here; prints JSON figures."""
    from sqlalchemy import text

    from settings import load_settings
    from store.db import make_engine, session_scope
    from store.runs import create_run
    from worker.runner import execute_run

    settings = load_settings({"INSIDERS_DATABASE_URL": url, "INSIDERS_PROFILE": "online-retail",
                              "INSIDERS_DATA_DIR": tempfile.mkdtemp()})
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE runs, model_versions RESTART IDENTITY CASCADE"))
    with session_scope(engine) as session:
        run_id = create_run(session, trigger="cli", refit=True).id
    started = time.perf_counter()
    outcome = execute_run(run_id, engine=engine, settings=settings)
    seconds = time.perf_counter() - started
    with engine.connect() as connection:
        metrics = connection.execute(text("SELECT metrics FROM runs WHERE id = :id"),
                                     {"id": run_id}).scalar()
    print(json.dumps({"outcome": outcome, "seconds": seconds,
                      "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "n_customers": (metrics or {}).get("n_customers"),
                      "n_insiders": (metrics or {}).get("n_insiders"),
                      "stages": (metrics or {}).get("seconds")}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--code", action="append", default=None)
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    code = args.code or [str(ROOT)]
    if args.child:
        child(args.database_url)
        return
    print(f"machine: {machine()}")
    prepare(args.database_url, args.customers, args.seed)
    for _ in range(args.repeats):
        for folder in code:
            env = {**os.environ, "PYTHONPATH": folder}
            out = subprocess.run(
                [sys.executable, str(Path(folder) / "benchmarks" / "refit.py"), "--child",
                 "--database-url", args.database_url],
                check=True, capture_output=True, text=True, env=env, cwd=folder,
            ).stdout.strip().splitlines()[-1]
            row = json.loads(out)
            print(f"{folder}: {row['outcome']} in {row['seconds']:.1f} s, peak "
                  f"{row['peak_mib']:.0f} MiB, {row['n_insiders']} Insiders of "
                  f"{row['n_customers']}; stages {row['stages']}", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # this checkout's product, not benchmarks/pipeline.py
    main()
