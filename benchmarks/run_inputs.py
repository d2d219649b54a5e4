"""A scoring run on the real data, its data read the old way (every stored transaction loaded,
cleaned and summarised in pandas) against the new (store.run_data.load_run_data: aggregates of
the daily rollup), interleaved, each in a fresh process: seconds and peak memory (max RSS).

    python benchmarks/run_inputs.py [--repeats 3]

Uses INSIDERS_BENCH_DATABASE_URL (default: the database ``insiders_bench``, emptied first) and
the real data set from INSIDERS_REAL_DATA. Both ways score with the same model version (a refit
as of 2011-11-20 made once) as of 2011-12-09 and give the same labels; writing the results,
the same for both, is not timed. Prints figures and the machine; writes nothing else.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.worker import PG_URL, machine  # noqa: E402

REFIT_ON, SCORE_ON = dt.date(2011, 11, 20), dt.date(2011, 12, 9)


def setup() -> int:
    """Empty the database, ingest the real data, refit once; returns the refit's run id."""
    from sqlalchemy import text

    import migrations
    from settings import load_settings
    from store.db import make_engine, session_scope
    from store.runs import create_run
    from store.transactions import ingest_file
    from worker.runner import execute_run

    migrations.upgrade(PG_URL)
    engine = make_engine(PG_URL)
    with engine.begin() as connection:
        connection.execute(text(
            "TRUNCATE membership_events, label_spans, label_stage, clusters, runs, model_versions,"
            " customer_days, rollup_batches, rollup_state, transactions, transaction_batches"
            " RESTART IDENTITY CASCADE"))
    settings = _settings()
    ingest_file(engine, load_settings().real_data, profile="online-retail")
    with session_scope(engine) as session:
        run_id = create_run(session, trigger="cli", as_of=REFIT_ON, refit=True).id
    assert execute_run(run_id, engine=engine, settings=settings) == "succeeded"
    engine.dispose()
    return run_id


def _settings():
    from settings import load_settings

    return load_settings({"INSIDERS_DATABASE_URL": PG_URL, "INSIDERS_PROFILE": "online-retail",
                          "INSIDERS_DATA_DIR": str(ROOT / ".insiders" / "bench")})


def child(way: str, refit_run: int) -> None:
    """One scoring run's load and pipeline, the ``way`` given; prints JSON figures."""
    from pipeline.clean import load_profile
    from pipeline.run import run_segmentation
    from store.db import make_engine
    from store.results import latest_model_state, load_labels
    from store.run_data import load_run_data
    from store.transactions import load_transactions
    from worker.runner import forecast_settings

    settings = _settings()
    engine = make_engine(PG_URL)
    with engine.connect() as connection:
        state = latest_model_state(connection, settings.model_artifact_key())
    previous = load_labels(engine, refit_run)
    started = time.perf_counter()
    if way == "before":
        data = load_transactions(engine)
    else:
        with engine.connect() as connection:
            data = load_run_data(connection, SCORE_ON,
                                 horizon_days=settings.forecast_horizon_days)
    loaded = time.perf_counter() - started
    result = run_segmentation(data, as_of=SCORE_ON, profile=load_profile("online-retail"),
                              state=state, previous=previous, random_state=settings.random_state,
                              n_clusters=settings.n_clusters, currency=settings.currency,
                              forecast=forecast_settings(settings))
    total = time.perf_counter() - started
    print(json.dumps({"way": way, "load": loaded, "total": total,
                      "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "n_insiders": int(result.labels["is_insiders"].sum()),
                      "n_customers": len(result.labels)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=["before", "after"])
    parser.add_argument("--refit-run", type=int)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.refit_run)
        return
    print(f"machine: {machine()}")
    refit_run = setup()
    figures: dict[str, list[dict]] = {"before": [], "after": []}
    for _ in range(args.repeats):
        for way in ("before", "after"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", way, "--refit-run", str(refit_run)],
                check=True, capture_output=True, text=True, env=os.environ,
            ).stdout.strip().splitlines()[-1]
            figures[way].append(json.loads(out))
            row = figures[way][-1]
            print(f"{way:6s} load {row['load']:.2f} s, load + pipeline {row['total']:.2f} s, "
                  f"peak {row['peak_mib']:.0f} MiB, {row['n_insiders']} Insiders of "
                  f"{row['n_customers']}")
    for way, rows in figures.items():
        best = min(rows, key=lambda r: r["total"])
        print(f"{way}: best load {min(r['load'] for r in rows):.2f} s, best load + pipeline "
              f"{best['total']:.2f} s, peak {max(r['peak_mib'] for r in rows):.0f} MiB")


if __name__ == "__main__":
    main()
