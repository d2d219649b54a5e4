"""Features in the database: ingest into PostgreSQL with and without the daily rollup (rows/s),
``insiders rollup rebuild``, and the features from the rollup against the pandas path.

    python benchmarks/rollup.py --database-url postgresql+psycopg://USER@HOST/DB
                                [--customers 20000] [--seed 0] [--files 4]

The product's synthetic generator writes ``--customers`` customers (about 100 rows each) into a
temporary directory, split by invoice date into ``--files`` files. The database's tables are
emptied first (use a database of its own). Measured, each on emptied tables:

* ingest of the whole history as one file, without the rollup, then with it;
* ingest of the ``--files`` files one after the other, with the rollup (the daily totals of
  later files add to existing customers; guests are renumbered when a file moves them);
* ``rollup rebuild`` of everything from the stored rows;
* features as of the last day: one query on the rollup, against loading the rows, cleaning and
  ``pipeline.features.customer_features``; both frames must be exactly equal.

Prints figures and the machine; writes nothing else.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import migrations  # noqa: E402
from benchmarks.ingest_features import machine  # noqa: E402
from pipeline.clean import clean_transactions, load_profile  # noqa: E402
from pipeline.features import customer_features  # noqa: E402
from pipeline.synthetic import write_synthetic  # noqa: E402
from store import rollup  # noqa: E402
from store.db import make_engine  # noqa: E402
from store.features_sql import rollup_features  # noqa: E402
from store.transactions import ingest_file, load_transactions  # noqa: E402

PROFILE = "online-retail"
TABLES = "customer_days, rollup_state, transactions, transaction_batches"


def empty(engine) -> None:
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))


def ingest(engine, paths: list[Path]) -> tuple[float, int]:
    started, rows = time.perf_counter(), 0
    for path in paths:
        rows += ingest_file(engine, path, profile=PROFILE).n_accepted
    return time.perf_counter() - started, rows


def split(path: Path, parts: int, directory: Path) -> list[Path]:
    frame = pd.read_parquet(path)
    dates = pd.to_datetime(frame["InvoiceDate"])
    edges = dates.quantile([i / parts for i in range(1, parts)]).dt.normalize().tolist()
    bounds = [dates.min().normalize(), *edges, dates.max() + pd.Timedelta(days=1)]
    paths = []
    for index in range(parts):
        part = frame.loc[(dates >= bounds[index]) & (dates < bounds[index + 1])]
        out = directory / f"part{index}.parquet"
        part.to_parquet(out, index=False)
        paths.append(out)
    return paths


class NoRollup:
    """Stands in for ``store.rollup.BatchRollup``: a batch's rows are stored, no daily totals."""

    def __init__(self, connection, *_args) -> None:
        self.connection = connection

    def piece(self, _rows: pd.DataFrame) -> None:
        return None

    def store(self, _piece) -> None:
        return None

    def finish(self) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--files", type=int, default=4)
    args = parser.parse_args()
    migrations.upgrade(args.database_url)
    engine = make_engine(args.database_url)
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        whole = Path(tmp) / "synthetic.parquet"
        n = write_synthetic(whole, args.customers, seed=args.seed)
        parts = split(whole, args.files, Path(tmp))
        print(f"synthetic: {args.customers:,} customers, {n:,} rows, {args.files} files")

        empty(engine)
        keep = rollup.BatchRollup
        rollup.BatchRollup = NoRollup  # ingest as before the rollup
        try:
            seconds, rows = ingest(engine, [whole])
        finally:
            rollup.BatchRollup = keep
        print(f"ingest, one file, without rollup: {seconds:.1f} s, {rows / seconds:,.0f} rows/s")
        empty(engine)
        seconds, rows = ingest(engine, [whole])
        print(f"ingest, one file, with rollup:    {seconds:.1f} s, {rows / seconds:,.0f} rows/s")
        empty(engine)
        seconds, rows = ingest(engine, parts)
        print(f"ingest, {args.files} files, with rollup:  {seconds:.1f} s,"
              f" {rows / seconds:,.0f} rows/s")

        started = time.perf_counter()
        with engine.begin() as connection:
            outcome = rollup.rebuild(connection, PROFILE)
        seconds = time.perf_counter() - started
        print(f"rollup rebuild: {seconds:.1f} s for {outcome.n_rows:,} rows"
              f" ({outcome.n_rows / seconds:,.0f} rows/s), {outcome.n_days:,} customer days")

        started = time.perf_counter()
        ours = rollup_features(engine)
        sql_seconds = time.perf_counter() - started
        started = time.perf_counter()
        stored = load_transactions(engine)
        loaded = time.perf_counter() - started
        clean = clean_transactions(stored, load_profile(PROFILE)).transactions
        theirs = customer_features(clean)
        pandas_seconds = time.perf_counter() - started
        pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
        print(f"features of {len(ours):,} customers: rollup query {sql_seconds:.2f} s;"
              f" pandas {pandas_seconds:.1f} s (of which loading the rows {loaded:.1f} s);"
              " frames exactly equal")
    engine.dispose()


if __name__ == "__main__":
    main()
