"""Peak memory of ingest against the size of the file (issue 11: flat in the number of rows).

    python benchmarks/ingest_memory.py --database-url postgresql+psycopg://USER@HOST/DB
                                       [--customers 50000,200000] [--csv] [--seed 0]
                                       [--workdir DIR] [--code DIR] [--rebuild]

For each number of customers the product's synthetic Parquet file (about 96 rows a customer;
kept in ``--workdir`` and reused), and with ``--csv`` the same rows as a CSV file, is ingested
with the ``online-retail`` rollup into an emptied database, in a fresh process: its rows/s, its
peak resident memory (``ru_maxrss``) and the largest resident memory sampled in the first and
the second half of the ingest (growth with the file shows as a larger second half). With
``--rebuild``, ``store.rollup.rebuild`` of the ingested batch follows each ingest, in a fresh
process (time, peak memory).
``--code DIR`` measures another checkout (its schema: give it a database of its own).
Prints one line per file and the machine; files are left in ``--workdir`` for a second run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLES = "transactions, transaction_batches, customer_days, rollup_batches, rollup_state"


def _rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _generate(code: str, path: str, customers: int, seed: int, csv: str | None) -> int:
    sys.path.insert(0, code)
    import pyarrow.csv as pcsv  # deferred: the child chooses the checkout
    import pyarrow.parquet as pq

    from pipeline.synthetic import write_synthetic

    if not Path(path).exists():
        write_synthetic(path, customers, seed=seed)
    if csv is not None and not Path(csv).exists():
        parquet = pq.ParquetFile(path)
        with pcsv.CSVWriter(csv, parquet.schema_arrow) as writer:
            for batch in parquet.iter_batches(batch_size=200_000):
                writer.write_batch(batch)
    return pq.ParquetFile(path).metadata.num_rows


def _ingest(code: str, url: str, path: str) -> dict[str, float]:
    sys.path.insert(0, code)
    from sqlalchemy import text  # deferred: the child chooses the checkout

    import migrations
    from store.db import make_engine
    from store.transactions import ingest_file

    migrations.upgrade(url)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.25):
            samples.append((time.perf_counter(), _rss_mib()))

    sampler = threading.Thread(target=sample, daemon=True)
    started = time.perf_counter()
    sampler.start()
    outcome = ingest_file(engine, path, profile="online-retail")
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    engine.dispose()
    middle = started + seconds / 2
    first = max((rss for at, rss in samples if at < middle), default=0.0)
    second = max((rss for at, rss in samples if at >= middle), default=0.0)
    return {"rows": outcome.n_rows, "stored": outcome.n_accepted, "seconds": seconds,
            "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "first_half": first, "second_half": second}


def _rebuild(code: str, url: str) -> dict[str, float]:
    sys.path.insert(0, code)
    from store.db import make_engine  # deferred: the child chooses the checkout
    from store.rollup import rebuild

    engine = make_engine(url)
    started = time.perf_counter()
    with engine.begin() as connection:
        outcome = rebuild(connection, "online-retail")
    seconds = time.perf_counter() - started
    engine.dispose()
    return {"rows": outcome.n_rows, "seconds": seconds,
            "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def in_child(call, *args):
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(call, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--customers", default="50000,200000")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", action="store_true", help="also ingest the rows as CSV")
    parser.add_argument("--workdir", default=".", help="where the files are written and kept")
    parser.add_argument("--code", default=str(ROOT), help="the checkout to measure")
    parser.add_argument("--rebuild", action="store_true",
                        help="after each ingest, rebuild the rollup (time, peak memory)")
    args = parser.parse_args()
    code = str(Path(args.code).resolve())
    for customers in (int(c) for c in args.customers.split(",")):
        base = Path(args.workdir) / f"synthetic-{customers}-{args.seed}"
        parquet = f"{base}.parquet"
        csv = f"{base}.csv" if args.csv else None
        in_child(_generate, str(ROOT), parquet, customers, args.seed, csv)
        for path in (parquet, csv):
            if path is None:
                continue
            f = in_child(_ingest, code, args.database_url, path)
            one, five, _ = os.getloadavg()
            print(f"{customers:,} customers, {Path(path).suffix[1:]}: {f['rows']:,} rows "
                  f"({f['stored']:,} stored) in {f['seconds']:.1f} s, "
                  f"{f['rows'] / f['seconds']:,.0f} rows/s; peak {f['peak']:,.0f} MiB "
                  f"(largest sampled: first half {f['first_half']:,.0f}, second half "
                  f"{f['second_half']:,.0f}); load {one:.1f} (5 min {five:.1f})", flush=True)
            if args.rebuild:
                r = in_child(_rebuild, code, args.database_url)
                one, five, _ = os.getloadavg()
                print(f"  rollup rebuild: {r['rows']:,} rows in {r['seconds']:.1f} s; peak "
                      f"{r['peak']:,.0f} MiB; load {one:.1f} (5 min {five:.1f})", flush=True)
    sys.path.insert(0, str(ROOT))
    from benchmarks.ingest_features import machine  # deferred: after the children ran

    print(f"code {code}\n{machine()}")


if __name__ == "__main__":
    main()
