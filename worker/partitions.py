"""A scoring run in partitions: the run task (:mod:`worker.partition_run`) splits the customers
in ranges of id and queues one ``insiders.score_partition`` task per partition (each range, and
each finishing job of :mod:`worker.partition_jobs`); any worker process, on any machine, takes
them.

A partition task scores its partition (features, forecasts and the previous run's labels of its
customers only, with the model version loaded once per process), then replaces the partition's
rows and marks it done in one transaction. It then takes any partition still pending or whose
worker went silent (no heartbeat for ``INSIDERS_STALE_AFTER_SECONDS``), so a partition lost with
its worker is scored again by a live one without waiting for the broker to hand its message back;
when the broker does, the task finds the partition done and stops. Once every partition and job
is done, exactly one process (the first to claim it) publishes the run atomically.
"""

from __future__ import annotations

import logging
import time
from datetime import date

import pandas as pd
from sqlalchemy import Connection, Engine, select

from pipeline.errors import PipelineInputError
from pipeline.model_state import ModelState
from pipeline.partition_scoring import score_partition
from pipeline.run_forecast import PARAMS_KEY, forecast_summary
from settings import Settings
from store import partitions, results, runs
from store.db import session_scope
from store.partition_data import PartitionData, partition_data, version_facts
from store.run_inputs import CustomerRange
from store.schema import Run
from store.webhook_events import record_run_failed
from worker import partition_jobs
from worker.partition_run import (
    SCORE_END,
    SCORE_START,
    model_version,
    prefetch,
    stage,
    worker_name,
)
from worker.runner import Heartbeat, describe_error, forecast_settings
from worker.webhook_delivery import send_pending

log = logging.getLogger(__name__)

EVERY_KIND = (partitions.SCORE, *partitions.FINISHING)
WAIT_SECONDS = 0.25


def work(run_id: int, partition: int, *, engine: Engine, settings: Settings) -> str:
    """The task's body: score ``partition``, then any partition left, then publish the run when
    every partition is done. Returns what happened last."""
    me = worker_name()
    try:
        outcome = _work(run_id, partition, engine=engine, settings=settings, me=me)
    except results.RunNoLongerActive:
        log.warning("run %s is no longer running; its partition work is dropped", run_id)
        _discard_if_finished(engine, run_id)
        return "abandoned"
    except Exception as exc:
        log.exception("run %s failed in partition work", run_id)
        reason = describe_error(exc)
        with session_scope(engine) as session:
            if runs.fail_run(session, run_id, reason):
                record_run_failed(session.connection(), run_id, reason)
        _discard_if_finished(engine, run_id)
        send_pending(engine, run_id=run_id)
        return "failed"
    if outcome == "succeeded":
        send_pending(engine, run_id=run_id)
    return outcome


def _work(run_id: int, partition: int, *, engine: Engine, settings: Settings, me: str) -> str:
    outcome, beaten = "skipped", 0.0
    taken = _claim(engine, run_id, settings, me, partition)
    if taken is not None:
        _load_ahead(engine, run_id, partition, settings)
    while True:
        if taken is not None:
            _do(run_id, *taken, engine=engine, settings=settings)
            outcome = "scored"
        with engine.connect() as connection:
            counts = partitions.status(connection, run_id, kinds=EVERY_KIND)
            running = _running(connection, run_id)
        if not running:
            return outcome
        if counts["total"] and counts[partitions.DONE] == counts["total"]:
            return partition_jobs.publish(run_id, engine=engine, settings=settings) or outcome
        taken = _claim(engine, run_id, settings, me)
        if taken is None:
            # the rest is taken by live workers: wait (briefly: the silhouette and the report
            # become free the moment the last range is scored), to take over any gone silent
            if time.monotonic() - beaten >= settings.heartbeat_seconds:
                with session_scope(engine) as session:
                    runs.record_heartbeat(session, run_id)
                beaten = time.monotonic()
            time.sleep(WAIT_SECONDS)


def _load_ahead(engine: Engine, run_id: int, partition: int, settings: Settings) -> None:
    """A process taking the forecast check or a range will score ranges: its model version is
    loaded in the background meanwhile (the finishing jobs after the ranges do not need it)."""
    with session_scope(engine) as session:
        kind, _ = partitions.job(session.connection(), run_id, partition)
        version = (runs.get_run(session, run_id).parameters or {}).get("model_version")
    if kind in (partitions.CHECK, partitions.SCORE) and version is not None:
        prefetch(engine, int(version), settings.model_artifact_key())


def _claim(engine: Engine, run_id: int, settings: Settings, me: str,
           partition: int | None = None) -> tuple[int, int] | None:
    cutoff = partitions.stale_cutoff(settings.stale_after_seconds)
    with session_scope(engine) as session:
        if not _running(session.connection(), run_id):
            return None
        if partition is not None:
            attempt = partitions.claim(session, run_id, partition, worker=me, stale_before=cutoff)
            return None if attempt is None else (partition, attempt)
        return partitions.claim_next(session, run_id, worker=me, stale_before=cutoff)


def _running(connection: Connection, run_id: int) -> bool:
    status = connection.execute(select(Run.status).where(Run.id == run_id)).scalar_one_or_none()
    return status == "running"


def _partition_beat(engine: Engine, run_id: int, partition: int, attempt: int,
                    seconds: float) -> Heartbeat:
    """Stamps the partition's and the run's heartbeat while the partition is scored."""
    return Heartbeat(engine, run_id, seconds,
                     stamp=lambda session: partitions.beat(session, run_id, partition, attempt),
                     name=f"partition-{run_id}-{partition}")


def _do(run_id: int, partition: int, attempt: int, *, engine: Engine,
        settings: Settings) -> None:
    """Score the range ``partition`` or run the finishing job it is."""
    with session_scope(engine) as session:
        run = runs.get_run(session, run_id)
        as_of, parameters = run.as_of, dict(run.parameters or {})
        kind, customers = partitions.job(session.connection(), run_id, partition)
    with _partition_beat(engine, run_id, partition, attempt, settings.heartbeat_seconds):
        if kind == partitions.SCORE:
            _score(run_id, partition, customers, as_of=as_of, parameters=parameters,
                   engine=engine, settings=settings)
            return
        started = time.perf_counter()
        result = partition_jobs.run_job(kind, run_id, as_of=as_of, parameters=parameters,
                                        engine=engine, settings=settings)
        with session_scope(engine) as session:
            partitions.finish_job(session, run_id, partition, result)
    log.info("run %s: %s done in %.1f s", run_id, kind, time.perf_counter() - started)


def _score(run_id: int, partition: int, customers: CustomerRange, *, as_of: date,
           parameters: dict, engine: Engine, settings: Settings) -> None:
    n = int(parameters["partitions"])
    state = model_version(engine, int(parameters["model_version"]),
                          settings.model_artifact_key())
    previous_run_id = parameters.get("previous_run_id")
    with engine.connect() as connection:
        data = partition_data(connection, as_of, customers, previous_run_id=previous_run_id)
    refit = bool(parameters.get("refit"))
    scores = score_partition(data.features, state, data.previous, currency=settings.currency,
                             forecast=_forecaster(data, state, as_of, settings), refit=refit,
                             old_thresholds=_replaced_thresholds(engine, parameters)
                             if refit else None)
    with session_scope(engine) as session:
        written = partitions.write_partition(
            session, run_id, partition, labels=scores.labels, events=scores.events,
            ahead=scores.forecasts, summary=scores.summary, previous_run_id=previous_run_id,
        )
    if written:
        # its own transaction: two partitions' writes share the run's row lock, and both
        # raising it to update the row would deadlock
        with session_scope(engine) as session:
            counts = partitions.status(session.connection(), run_id)
            done, total = counts[partitions.DONE], counts["total"]
            start = float(parameters.get("score_start", SCORE_START))
            runs.record_progress(session, run_id, stage(done, total),
                                 start + (SCORE_END - start) * done / total)
    log.info("run %s: partition %s of %s %s (%s customers)", run_id, partition, n,
             "written" if written else "already done by another attempt", len(scores.labels))


def _replaced_thresholds(engine: Engine, parameters: dict) -> dict | None:
    """The thresholds of the version a refit replaces (None for the first version)."""
    replaced = parameters.get("replaced_version")
    if replaced is None:
        return None
    with engine.connect() as connection:
        return version_facts(connection, int(replaced)).thresholds


def _forecaster(data: PartitionData, state: ModelState, as_of: date, settings: Settings):
    """The partition's forecasts with the version's forward model, as a single process makes
    them (:func:`pipeline.run._look_ahead`); none when the version has no forward model (its
    refit had too little history to fit one)."""
    params = state.parameters.get(PARAMS_KEY)
    if params is None:
        return None

    def forecast(features: pd.DataFrame, membership: pd.Series):
        try:
            ahead = forecast_summary(data.rfm, features, membership, state.thresholds, as_of,
                                     params=params, guest_id_range=data.guest_id_range,
                                     random_state=settings.random_state,
                                     settings=forecast_settings(settings))
        except PipelineInputError as exc:
            return None, {"error": str(exc)}
        return ahead.frame, ahead.metrics

    return forecast


def _discard_if_finished(engine: Engine, run_id: int) -> None:
    """A failed run keeps no labels, events or forecasts of its partitions."""
    with session_scope(engine) as session:
        if not _running(session.connection(), run_id):
            run = runs.get_run(session, run_id)
            if run is not None and run.status != "succeeded":
                partitions.discard_rows(session.connection(), run_id)
