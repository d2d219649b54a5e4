"""Which step of a worker process takes its memory: a partitioned scoring run's jobs replayed in
one process, in the order one worker process takes them, with the process's peak and current
resident memory after each step.

    python benchmarks/job_memory.py --database-url postgresql+psycopg://USER@HOST/DB
                                    [--run-id N] [--data-dir DIR] [--ranges 2]
                                    [--steps model,check,score,silhouette,report]

It reads the database a ``benchmarks/scale.py`` run left (its latest partitioned run by
default) and the artifact key in ``--data-dir`` (the workers' ``INSIDERS_DATA_DIR``). The steps:

* ``model``: the run's model version read and unpickled, as a worker process loads it;
* ``check``: the forecast check job (:func:`worker.partition_jobs.run_job`);
* ``ahead``: the forecast check job while the model version loads in a thread, as a worker
  process's first job (instead of ``model`` and ``check``);
* ``score``: ``--ranges`` of the run's ranges scored, each written in a transaction rolled back
  (the database is left as it was), with the seconds of reading, scoring and writing; with
  ``--without-forecast``, scored without the forecasts (what looking ahead adds to a range);
* ``silhouette`` and ``report``: the finishing jobs.

Each step's line gives its seconds, the process's peak (``ru_maxrss``: a step that raises it
is where the peak is) and its resident memory after the step (``VmRSS``: what it keeps).
Nothing is written.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# after the repository is on the path
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from settings import load_settings  # noqa: E402
from store import partitions  # noqa: E402
from store.partition_data import partition_data  # noqa: E402
from worker import partition_jobs  # noqa: E402
from worker import partitions as worker_partitions  # noqa: E402
from worker.partition_run import model_version, prefetch  # noqa: E402

STEPS = ("model", "check", "score", "silhouette", "report")
ALL_STEPS = (*STEPS, "ahead")
Step = tuple[str, Callable[[], str]]


def rss_mib() -> tuple[float, float]:
    """(peak, current) resident memory of this process, MiB."""
    current = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            current = int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, current


class Replay:
    """The jobs of run ``run_id`` (default: the latest run in ranges), as a worker runs them."""

    def __init__(self, url: str, run_id: int | None, *, forecast: bool = True) -> None:
        self.engine = create_engine(url)
        self.forecast = forecast
        self.settings = load_settings()
        with self.engine.connect() as connection:
            if run_id is None:
                run_id = connection.execute(text(
                    "SELECT max(run_id) FROM run_partitions WHERE kind = 'score'")).scalar_one()
            run = connection.execute(text("SELECT as_of, parameters FROM runs WHERE id = :id"),
                                     {"id": run_id}).one()
            self.ranges = [r[0] for r in connection.execute(text(
                "SELECT partition FROM run_partitions WHERE run_id = :id AND kind = 'score' "
                "ORDER BY partition"), {"id": run_id})]
        self.run_id, self.as_of, self.parameters = run_id, run.as_of, dict(run.parameters)

    def facts(self) -> str:
        return (f"as of {self.as_of}, model version {self.parameters['model_version']}, "
                f"{len(self.ranges)} ranges")

    def step(self, name: str, *, ranges: int) -> Iterator[Step]:
        if name == "model":
            yield "model version loaded", self._model
        elif name == "ahead":
            yield "check job, the model version loaded beside it", self._ahead
        elif name == "score":
            for partition in self.ranges[:ranges]:
                yield f"range {partition} scored and written (rolled back)", (
                    lambda p=partition: self._score(p))
        else:
            kind = {"check": partitions.CHECK, "silhouette": partitions.SILHOUETTE,
                    "report": partitions.REPORT}[name]
            yield f"{name} job", lambda: self._job(kind)

    def _model(self) -> str:
        state = model_version(self.engine, int(self.parameters["model_version"]),
                              self.settings.model_artifact_key())
        return f"version {state.version}"

    def _ahead(self) -> str:
        version = int(self.parameters["model_version"])
        prefetch(self.engine, version, self.settings.model_artifact_key())
        done = self._job(partitions.CHECK)
        return f"{done}; {self._model()}"  # waits for the thread's load

    def _job(self, kind: str) -> str:
        result = partition_jobs.run_job(kind, self.run_id, as_of=self.as_of,
                                        parameters=self.parameters, engine=self.engine,
                                        settings=self.settings)
        return ", ".join(sorted(result))

    def _score(self, partition: int) -> str:
        settings, parameters = self.settings, self.parameters
        state = model_version(self.engine, int(parameters["model_version"]),
                              settings.model_artifact_key())
        started = time.perf_counter()
        with self.engine.connect() as connection:
            _, customers = partitions.job(connection, self.run_id, partition)
            data = partition_data(connection, self.as_of, customers,
                                  previous_run_id=parameters.get("previous_run_id"))
        read = time.perf_counter()
        forecast = (worker_partitions._forecaster(data, state, self.as_of, settings)
                    if self.forecast else None)
        scores = worker_partitions.score_partition(
            data.features, state, data.previous, currency=settings.currency, forecast=forecast)
        scored = time.perf_counter()
        with self.engine.connect() as connection:
            transaction = connection.begin()
            try:
                session = Session(bind=connection)
                connection.execute(text("UPDATE runs SET status = 'running' WHERE id = :id"),
                                   {"id": self.run_id})
                connection.execute(text("UPDATE run_partitions SET status = 'pending' "
                                        "WHERE run_id = :id AND partition = :p"),
                                   {"id": self.run_id, "p": partition})
                partitions.write_partition(
                    session, self.run_id, partition, labels=scores.labels, events=scores.events,
                    ahead=scores.forecasts, summary=scores.summary,
                    previous_run_id=parameters.get("previous_run_id"))
            finally:
                transaction.rollback()
        return (f"{len(scores.labels):,} customers: read {read - started:.2f} s, scored "
                f"{scored - read:.2f} s, written {time.perf_counter() - scored:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--run-id", type=int, default=None)
    parser.add_argument("--data-dir", default=None, help="the workers' INSIDERS_DATA_DIR")
    parser.add_argument("--ranges", type=int, default=2, help="how many ranges to score")
    parser.add_argument("--without-forecast", action="store_true",
                        help="score the ranges without the forecasts (what looking ahead costs)")
    parser.add_argument("--steps", default=",".join(STEPS),
                        help=f"comma-separated, of {', '.join(ALL_STEPS)}")
    args = parser.parse_args()
    os.environ["INSIDERS_DATABASE_URL"] = args.database_url
    os.environ.setdefault("INSIDERS_PROFILE", "online-retail")
    if args.data_dir:
        os.environ["INSIDERS_DATA_DIR"] = args.data_dir
    print(f"imports done: peak {rss_mib()[0]:,.0f} MiB", flush=True)
    replay = Replay(args.database_url, args.run_id, forecast=not args.without_forecast)
    print(f"run {replay.run_id}: {replay.facts()}", flush=True)
    for name in args.steps.split(","):
        for label, call in replay.step(name, ranges=args.ranges):
            started = time.perf_counter()
            detail = call()
            peak, current = rss_mib()
            print(f"{label}: {time.perf_counter() - started:.1f} s, peak {peak:,.0f} MiB, "
                  f"resident {current:,.0f} MiB{'; ' + detail if detail else ''}", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
