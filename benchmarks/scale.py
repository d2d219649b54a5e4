"""Issue 11's scale benchmark: the product's synthetic generator at a retailer's size, through
the steps a daily deployment runs, with time and peak memory of each step's process.

    python benchmarks/scale.py --database-url postgresql+psycopg://USER@HOST/DB
                               [--customers 1000000] [--seed 0] [--piece-rows 500000]
                               [--workdir DIR] [--keep-file] [--code DIR] [--steps a,b]
                               [--daily-days N] [--day-rows N]
                               [--redis-url redis://HOST:6379/N] [--real-data FILE]

The generator writes about 96 rows per customer (1M customers: about 96M rows). The database's
transaction tables are emptied first: use a database of its own. Each step runs in a child
process of its own, so its peak resident memory (``ru_maxrss``) is that step's alone:

* ``generate``: the Parquet file, streamed (rows, seconds, file size);
* ``ingest``: ``store.transactions.ingest_file`` with the ``online-retail`` rollup, one file of
  the whole history (rows/s, peak memory);
* ``storage``: the size the tables take in the database (``pg_total_relation_size``);
* ``features``: every customer's features as of the last day, from the rollup.

The run steps (``benchmarks/scale_runs.py``, ``benchmarks/scale_daily.py``) start real
``insiders worker`` commands on the same database and on ``--redis-url`` as their broker, and
time runs from queued to succeeded with the workers' peak memory read from ``/proc``:

* ``refit``: a refit run, 1 worker process;
* ``scoring``: a scoring run with 1, then 2 worker processes (and how many cores the machine
  kept busy meanwhile: PostgreSQL shares them);
* ``refit-again``: a refit after those runs, reading the version it replaces and their labels;
* ``daily``: one more day of transactions ingested and scored: what the database grew by;
* ``inbox``: another day dropped into the inbox, the scheduled run: time until it is current;
* ``real``: the real data set (``--real-data``) refitted and scored through a worker; it
  empties the database, so it runs last.

Each step is a function in ``STEPS`` taking the :class:`Scale` and returning its figures as
(measure, value) pairs; ``--steps`` picks some (the database must hold what they need).

``--code DIR`` imports the product from another checkout (for a before/after comparison on the
same machine; give it a database of its own, its schema is that checkout's).
Prints a table of figures and the machine; writes nothing else (the file is deleted unless
``--keep-file``).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import scale_daily, scale_runs  # noqa: E402 (after the repository is on the path)

PROFILE = "online-retail"
TABLES = ("transactions", "transaction_batches", "customer_days", "rollup_batches",
          "rollup_state")


@dataclass
class Scale:
    """What the steps share: the options and what earlier steps left."""

    database_url: str
    customers: int
    seed: int
    piece_rows: int
    code: str
    path: Path
    redis_url: str = scale_runs.BROKER_DB_DEFAULT
    real_data: str | None = None
    daily_days: int = 1
    day_rows: int | None = None
    rows: int = 0
    figures: list[tuple[str, str]] = field(default_factory=list)


def in_child(call: Callable, *args) -> tuple[object, float]:
    """``call(*args)`` in a fresh process: its result and that process's peak RSS (MiB)."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(_measured, (call, *args))


def _measured(call: Callable, *args) -> tuple[object, float]:
    result = call(*args)
    return result, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _use_code(code: str) -> None:
    if code not in sys.path:
        sys.path.insert(0, code)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f} (5 min {five:.1f})"


# ---------------------------------------------------------------- steps


def _generate(code: str, path: str, customers: int, seed: int) -> tuple[int, float]:
    _use_code(code)
    from pipeline.synthetic import write_synthetic  # deferred: the child chooses the checkout

    started = time.perf_counter()
    rows = write_synthetic(path, customers, seed=seed)
    return rows, time.perf_counter() - started


def generate(scale: Scale) -> list[tuple[str, str]]:
    (rows, seconds), rss = in_child(_generate, scale.code, str(scale.path), scale.customers,
                                    scale.seed)
    scale.rows = rows
    size = scale.path.stat().st_size / 2**20
    return [("generate: rows", f"{rows:,}"),
            ("generate: time", f"{seconds:.1f} s ({rows / seconds:,.0f} rows/s), {load()}"),
            ("generate: Parquet file", f"{size:,.0f} MiB"),
            ("generate: peak memory", f"{rss:,.0f} MiB")]


def _ingest(code: str, url: str, path: str, piece_rows: int) -> tuple[int, int, float]:
    _use_code(code)
    # deferred: the child chooses the checkout
    import inspect

    from sqlalchemy import text

    import migrations
    from store.db import make_engine
    from store.transactions import ingest_file

    migrations.upgrade(url)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    options = {"profile": PROFILE}
    if "piece_rows" in inspect.signature(ingest_file).parameters:  # not in older checkouts
        options["piece_rows"] = piece_rows
    started = time.perf_counter()
    outcome = ingest_file(engine, path, **options)
    seconds = time.perf_counter() - started
    engine.dispose()
    return outcome.n_rows, outcome.n_accepted, seconds


def ingest(scale: Scale) -> list[tuple[str, str]]:
    (rows, accepted, seconds), rss = in_child(_ingest, scale.code, scale.database_url,
                                              str(scale.path), scale.piece_rows)
    return [("ingest with rollup: rows stored", f"{accepted:,} of {rows:,}"),
            ("ingest with rollup: time", f"{seconds:.1f} s, **{rows / seconds:,.0f} rows/s**, "
                                         f"{load()}"),
            ("ingest with rollup: peak memory", f"**{rss:,.0f} MiB**")]


def _sizes(code: str, url: str) -> dict[str, int]:
    _use_code(code)
    from sqlalchemy import text  # deferred: the child chooses the checkout

    from store.db import make_engine

    engine = make_engine(url)
    with engine.connect() as connection:
        sizes = {name: int(connection.execute(
            text(f"SELECT pg_total_relation_size('{name}')")).scalar_one()) for name in TABLES}
        sizes["customer days"] = int(connection.execute(
            text("SELECT count(*) FROM customer_days")).scalar_one())
    engine.dispose()
    return sizes


def storage(scale: Scale) -> list[tuple[str, str]]:
    sizes, _ = in_child(_sizes, scale.code, scale.database_url)
    days = sizes.pop("customer days")
    total = sum(sizes.values())
    out = [("storage: all transaction tables", f"{total / 2**20:,.0f} MiB "
                                               f"({total / max(scale.rows, 1):,.0f} bytes/row)")]
    out += [(f"storage: {name}", f"{size / 2**20:,.1f} MiB") for name, size in sizes.items()
            if size > 2**20]
    out.append(("storage: customer days", f"{days:,}"))
    return out


def _features(code: str, url: str) -> tuple[int, float]:
    _use_code(code)
    from store.db import make_engine  # deferred: the child chooses the checkout
    from store.features_sql import rollup_features

    engine = make_engine(url)
    started = time.perf_counter()
    features = rollup_features(engine)
    seconds = time.perf_counter() - started
    engine.dispose()
    return len(features), seconds


def features(scale: Scale) -> list[tuple[str, str]]:
    (customers, seconds), rss = in_child(_features, scale.code, scale.database_url)
    return [("features from the rollup", f"{seconds:.1f} s for {customers:,} customers, "
                                         f"{load()}"),
            ("features: peak memory", f"{rss:,.0f} MiB")]


STEPS: dict[str, Callable[[Scale], list[tuple[str, str]]]] = {
    "generate": generate,
    "ingest": ingest,
    "storage": storage,
    "features": features,
    "refit": scale_runs.refit,
    "scoring": scale_runs.scoring,
    "refit-again": scale_runs.refit_again,
    "daily": scale_daily.daily,
    "inbox": scale_daily.inbox,
    "real": scale_runs.real,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--redis-url", default=scale_runs.BROKER_DB_DEFAULT,
                        help="the broker of the run steps' workers (a Redis db of its own)")
    parser.add_argument("--real-data", default=os.environ.get("INSIDERS_REAL_DATA"),
                        help="the real data set's file, for the last step (empties the database)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--daily-days", type=int, default=1,
                        help="days the daily step ingests and scores, one after the other")
    parser.add_argument("--day-rows", type=int, default=None,
                        help="the daily and inbox days' first invoices up to this many rows")
    parser.add_argument("--piece-rows", type=int, default=500_000)
    parser.add_argument("--workdir", default=None, help="where the Parquet file goes")
    parser.add_argument("--keep-file", action="store_true")
    parser.add_argument("--code", default=str(ROOT), help="the checkout to measure")
    parser.add_argument("--steps", default=",".join(STEPS), help="comma-separated steps")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="insiders-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"synthetic-{args.customers}-{args.seed}.parquet"
    scale = Scale(args.database_url, args.customers, args.seed, args.piece_rows,
                  str(Path(args.code).resolve()), path, args.redis_url,
                  args.real_data, args.daily_days, args.day_rows)
    if path.exists():  # a kept file: the generate step may be skipped
        import pyarrow.parquet as pq  # deferred: only to count a kept file's rows

        scale.rows = pq.ParquetFile(path).metadata.num_rows
    try:
        for name in args.steps.split(","):
            for measure, value in STEPS[name](scale):
                scale.figures.append((measure, value))
                print(f"{measure}: {value}", flush=True)
    finally:
        if not args.keep_file:
            path.unlink(missing_ok=True)
    from benchmarks.ingest_features import machine  # deferred: after the children ran

    print(f"\n{args.customers:,} customers, code {scale.code}\n{machine()}\n")
    print("| measure | value |\n|---|---|")
    for measure, value in scale.figures:
        print(f"| {measure} | {value} |")


if __name__ == "__main__":
    main()
