"""Reads of a run's labels on a database the scale benchmark filled (``benchmarks/scale.py``):
what the dashboard and the worker ask of ``customer_labels``, a table before issue 11's labels as
changes and a view over spans of runs after. Plain SQL, so that it times either schema.

    python benchmarks/label_reads.py --database-url postgresql+psycopg://USER@HOST/DB [--repeat 20]

Prints p50 and p95 in ms of each read of the latest succeeded run (and the customer, range and
run before it the reads need) and the machine; writes nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.worker import machine

READS = {
    "count of a run's customers and Insiders":
        "SELECT count(*), count(*) FILTER (WHERE is_insiders) FROM customer_labels "
        "WHERE run_id = :run",
    "a run's Insiders with their figures (Insiders list)":
        "SELECT customer_id, cluster, gross_revenue, recency_days, invoice_quantity, "
        "avg_ticket FROM customer_labels WHERE run_id = :run AND is_insiders",
    "a run's mean figures, everyone and Insiders (Overview cards)":
        "SELECT avg(gross_revenue), avg(avg_ticket), sum(gross_revenue), "
        "sum(gross_revenue) FILTER (WHERE is_insiders) FROM customer_labels WHERE run_id = :run",
    "a tenth of the run before, by id (a partition's previous labels)":
        "SELECT customer_id, cluster, is_insiders, gross_revenue, recency_days "
        "FROM customer_labels WHERE run_id = :previous AND customer_id >= :lo "
        "AND customer_id < :hi ORDER BY customer_id",
    "one customer across every run (Customer page)":
        "SELECT run_id, cluster, is_insiders, gross_revenue, recency_days FROM customer_labels "
        "WHERE customer_id = :customer ORDER BY run_id",
}


def _targets(connection) -> dict[str, int]:
    runs = connection.execute(text(
        "SELECT id FROM runs WHERE status = 'succeeded' ORDER BY id DESC LIMIT 2")).scalars().all()
    run, previous = runs[0], runs[-1]
    lo, hi = connection.execute(text(
        "SELECT min(customer_id), max(customer_id) FROM customer_labels WHERE run_id = :run"),
        {"run": previous}).one()
    customer = connection.execute(text(
        "SELECT customer_id FROM customer_labels WHERE run_id = :run AND is_insiders "
        "ORDER BY customer_id LIMIT 1"), {"run": run}).scalar_one()
    return {"run": run, "previous": previous, "lo": lo, "hi": lo + (hi - lo) // 10,
            "customer": customer}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    engine = create_engine(args.database_url)
    with engine.connect() as connection:
        params = _targets(connection)
        kind = connection.execute(text(
            "SELECT table_type FROM information_schema.tables "
            "WHERE table_name = 'customer_labels'")).scalar_one()
        print(f"customer_labels: {kind.lower()}; runs {params['previous']} and {params['run']}")
        for name, sql in READS.items():
            seconds = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                rows = connection.execute(text(sql), params).all()
                seconds.append(time.perf_counter() - start)
            p50 = statistics.median(seconds) * 1000
            p95 = statistics.quantiles(seconds, n=20)[-1] * 1000
            print(f"| {name} | {len(rows):,} rows | {p50:.1f} | {p95:.1f} |")
    engine.dispose()
    print(machine())


if __name__ == "__main__":
    main()
