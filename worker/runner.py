"""What the ``insiders.run_segmentation`` task does, step by step, outside Celery.

claim (queued -> running) -> load the run's figures from the daily rollup (never a transaction:
:func:`store.run_data.load_run_data`), model state, previous labels -> pipeline (with progress
and a heartbeat thread) -> write everything and flip the run to succeeded in one transaction.
Any exception fails the run with its reason; the current run is untouched. A rollup that does
not hold every stored batch fails the run with the plain reason and the command that rebuilds
it (ingest rebuilds it by itself; a rebuild inside a run would read every transaction).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from importlib import metadata
from pathlib import Path

from sqlalchemy import Engine

from pipeline.clean import load_profile
from pipeline.errors import InsidersError, PipelineInputError
from pipeline.run import RunData, run_segmentation
from pipeline.run_forecast import ForecastSettings
from settings import Settings
from store import forecasts, insiders_file, results, run_changes, run_index, runs
from store import transactions as store_transactions
from store.db import session_scope
from store.partition_data import version_facts
from store.rollup import rollup_profile
from store.run_data import load_run_data
from store.run_inputs import stored_totals
from store.webhook_events import record_run_failed
from worker import partition_refit, partition_run
from worker.webhook_delivery import send_pending

log = logging.getLogger(__name__)

# share of the progress bar the pipeline gets; loading and saving take the rest
PIPELINE_START, PIPELINE_END = 5.0, 95.0

Segment = Callable[..., object]


def code_version() -> str:
    """Package version plus a hash of the pipeline's source: identifies the code of a run."""
    try:
        version = metadata.version("insiders")
    except metadata.PackageNotFoundError:
        version = "0"
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.parent.glob("pipeline/*.py")):
        digest.update(path.read_bytes())
    return f"{version}+{digest.hexdigest()[:12]}"


class Heartbeat:
    """A daemon thread that calls ``stamp(session)`` every ``seconds`` while work goes on; the
    run's own heartbeat by default. ``stamp`` returning False (the work is no longer running)
    ends the beats."""

    def __init__(self, engine: Engine, run_id: int, seconds: float, *,
                 stamp: Callable[[object], bool] | None = None, name: str | None = None) -> None:
        self.engine, self.run_id, self.seconds = engine, run_id, seconds
        self.stamp = stamp or (lambda session: runs.record_heartbeat(session, run_id))
        self.name = name or f"heartbeat-{run_id}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=self.name, daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                with session_scope(self.engine) as session:
                    if not self.stamp(session):
                        return
            except Exception:  # a missed beat is not fatal; the next one may get through
                log.warning("%s failed", self.name, exc_info=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class ProgressWriter:
    """The pipeline's ``progress(stage, fraction)``: throttled writes of stage and percent."""

    def __init__(self, engine: Engine, run_id: int, every_seconds: float = 1.0) -> None:
        self.engine, self.run_id, self.every_seconds = engine, run_id, every_seconds
        self._stage: str | None = None
        self._percent = 0.0
        self._written_at = 0.0

    def write(self, stage: str, percent: float) -> None:
        percent = max(self._percent, min(100.0, percent))
        now = time.monotonic()
        if stage == self._stage and now - self._written_at < self.every_seconds:
            self._percent = percent
            return
        self._stage, self._percent, self._written_at = stage, percent, now
        with session_scope(self.engine) as session:
            runs.record_progress(session, self.run_id, stage, round(percent, 1))

    def __call__(self, stage: str, fraction: float) -> None:
        self._up_to(PIPELINE_END, stage, fraction)

    def scaled(self, end: float) -> Callable[[str, float], None]:
        """The pipeline's progress shown between the start and ``end`` percent."""
        return functools.partial(self._up_to, end)

    def _up_to(self, end: float, stage: str, fraction: float) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        self.write(stage, PIPELINE_START + (end - PIPELINE_START) * fraction)


@dataclass
class RunInputs:
    as_of: date
    profile: str
    refit: bool
    refit_reason: str
    state: object | None
    previous_run_id: int | None
    previous_labels: object | None
    data: RunData
    load_seconds: float = 0.0
    split: list = field(default_factory=list)
    """The ranges a refit fitted alone scores its customers in (:mod:`worker.partition_refit`);
    ``data`` and ``previous_labels`` then hold only what the fit reads."""


def refit_reason(state, *, as_of: date, requested: bool, every_days: int) -> str | None:
    """Why this run fits a new model version, or None to score with ``state``."""
    if state is None:
        return "no model version yet"
    if requested:
        return "refit requested"
    age = (as_of - state.fitted_as_of).days
    if age < 0:
        return f"model version {state.version} was fitted on later data ({state.fitted_as_of})"
    if age >= every_days:
        return f"model version {state.version} is {age} days old (refit every {every_days})"
    return None


def load_inputs(engine: Engine, run_id: int, settings: Settings, *,
                split_refits: bool = True) -> RunInputs:
    """What run ``run_id`` reads; its data from the rollup (:func:`load_run_data`).
    ``split_refits``: a refit of more customers than it fits on is fitted alone, then scored in
    partitions, so only what the fit reads is loaded."""
    started = time.perf_counter()
    with engine.connect() as connection:
        _n_rows, last = stored_totals(connection)
        profile = (rollup_profile(connection) or store_transactions.latest_profile(connection)
                   or settings.profile)
        facts = version_facts(connection)
    if last is None:
        raise PipelineInputError("no transactions stored yet: run `insiders ingest FILE` first")
    with session_scope(engine) as session:
        run = runs.get_run(session, run_id)
        as_of = run.as_of or last.date()
        requested = bool(run.refit)
        previous = runs.previous_run(session, as_of, run_id)
    reason = refit_reason(
        facts, as_of=as_of, requested=requested, every_days=settings.refit_every_days
    )
    state = _model_state(engine, facts, refit=reason is not None, settings=settings)
    split = (partition_refit.refit_ranges(engine, settings, as_of)
             if reason is not None and split_refits else [])
    previous_labels = None if previous is None else results.load_labels(
        engine, previous.id, columns=partition_refit.PREVIOUS_COLUMNS if split else None)
    with _snapshot(engine) as connection:
        data = load_run_data(connection, as_of, horizon_days=settings.forecast_horizon_days,
                             fit_sample_seed=None if reason is None else settings.random_state,
                             max_fit_customers=settings.fit_customers, scoring=not split)
    return RunInputs(
        as_of=as_of,
        profile=profile,
        refit=reason is not None,
        refit_reason=reason or "",
        state=state,
        previous_run_id=previous.id if previous else None,
        previous_labels=previous_labels,
        data=data,
        load_seconds=round(time.perf_counter() - started, 3),
        split=split,
    )


def _model_state(engine: Engine, facts, *, refit: bool, settings: Settings):
    """The latest model version: with its fitted model to score; a refit reads only its
    thresholds and clusters, not its artifact (at a million customers the artifact's 220 MB
    and the driver's buffer for it were most of a refit's memory while it loaded)."""
    if facts is None:
        return None
    if refit:
        return results.facts_state(facts)
    with engine.connect() as connection:
        return results.model_state(connection, int(facts.version), settings.model_artifact_key())


def _snapshot(engine: Engine):
    """A connection whose queries all see one state of the database (PostgreSQL: repeatable
    read), so an ingest committing meanwhile cannot mix two states into one run's figures."""
    if engine.dialect.name == "postgresql":
        return engine.connect().execution_options(isolation_level="REPEATABLE READ")
    return engine.connect()


def _default_segment() -> Segment:
    return run_segmentation


def execute_run(
    run_id: int,
    *,
    engine: Engine,
    settings: Settings,
    task_id: str | None = None,
    segment: Segment | None = None,
) -> str:
    """Run ``run_id`` if it is still queued; returns what happened.

    ``segment`` replaces ``pipeline.run.run_segmentation`` (same signature); tests pass a
    quick or failing one. Returns "skipped" (not queued any more: a re-delivered message),
    "succeeded", "unchanged" (same data, parameters and model version as the run it would
    follow: recorded, nothing written), "failed" or "abandoned" (reaped while working).
    """
    with session_scope(engine) as session:
        if not runs.claim_run(session, run_id, task_id=task_id):
            log.info("run %s is not queued any more; nothing to do", run_id)
            return "skipped"
    try:
        with Heartbeat(engine, run_id, settings.heartbeat_seconds):
            outcome = partition_run.start_if_due(
                run_id, engine=engine, settings=settings, refit_reason=refit_reason
            ) or _work(run_id, engine=engine, settings=settings, segment=segment)
    except results.RunNoLongerActive:
        log.warning("run %s was failed by someone else while working; dropped", run_id)
        return "abandoned"
    except Exception as exc:
        log.exception("run %s failed", run_id)
        reason = describe_error(exc)
        with session_scope(engine) as session:
            if runs.fail_run(session, run_id, reason):
                record_run_failed(session.connection(), run_id, reason)
        # sent after the commit, by other tasks: a receiver never delays or fails a run
        send_pending(engine, run_id=run_id)
        return "failed"
    send_pending(engine, run_id=run_id)
    return outcome


def _work(run_id: int, *, engine: Engine, settings: Settings, segment: Segment | None) -> str:
    progress = ProgressWriter(engine, run_id)
    progress.write("loading", 1.0)
    inputs = load_inputs(engine, run_id, settings, split_refits=segment is None)
    parameters = {
        "profile": inputs.profile,
        "n_clusters": settings.n_clusters,
        "random_state": settings.random_state,
        "refit": inputs.refit,
        "refit_reason": inputs.refit_reason,
        "refit_every_days": settings.refit_every_days,
        "n_transactions": inputs.data.n_transactions,
        "forecast_horizon_days": settings.forecast_horizon_days,
        "at_risk_days": settings.at_risk_days,
        "at_risk_probability": settings.at_risk_probability,
    }
    with session_scope(engine) as session:
        runs.set_run_inputs(session, run_id, as_of=inputs.as_of, parameters=parameters)
    if inputs.split:
        return partition_refit.refit_in_partitions(
            run_id, inputs, engine=engine, settings=settings, parameters=parameters,
            code_version=code_version(), forecast=forecast_settings(settings),
            progress=progress.scaled(partition_refit.FIT_END))
    result = (segment or _default_segment())(
        inputs.data,
        as_of=inputs.as_of,
        profile=load_profile(inputs.profile),
        random_state=settings.random_state,
        n_clusters=settings.n_clusters,
        state=inputs.state,
        previous=inputs.previous_labels,
        refit=inputs.refit,
        progress=progress,
        currency=settings.currency,
        forecast=forecast_settings(settings),
        max_fit_customers=settings.fit_customers,
    )
    progress.write("saving", PIPELINE_END)
    seconds = getattr(result, "metrics", {}).get("seconds")
    if isinstance(seconds, dict):
        seconds["load"] = inputs.load_seconds
    if _record_if_unchanged(engine, run_id, inputs.as_of, parameters, result):
        return "unchanged"
    with session_scope(engine) as session:
        results.write_results(
            session,
            run_id,
            result,
            previous_run_id=inputs.previous_run_id,
            code_version=code_version(),
            artifact_key=settings.model_artifact_key(),
            run_values={"random_state": settings.random_state},
        )
        # in the transaction that publishes the run: a reader sees its forecasts with it
        ahead = getattr(result, "forecasts", None)
        if ahead is not None:
            forecasts.write_forecasts(session.connection(), run_id, ahead)
    write_run_files(engine, run_id, settings.currency)
    return "succeeded"


def write_run_files(engine: Engine, run_id: int, currency: str) -> None:
    """The published run's files: its Insiders CSV for download, its customer index, map
    points and changes against the run before it (reasons worded in ``currency``) for the
    dashboard. A failure here leaves the run as it is: the dashboard builds a missing CSV when
    it is asked for and reads a run without the others from its labels and events."""
    writes = (insiders_file.write_insiders_csv, run_index.write,
              lambda engine, run_id: run_changes.write(engine, run_id, currency))
    for write in writes:
        try:
            write(engine, run_id)
        except Exception:  # the run is published already; the dashboard does without
            log.exception("writing the files of run %s failed", run_id)


def forecast_settings(settings: Settings) -> ForecastSettings:
    """How far a run looks ahead, from the INSIDERS_* settings."""
    return ForecastSettings(horizon_days=settings.forecast_horizon_days,
                            at_risk_days=settings.at_risk_days,
                            at_risk_probability=settings.at_risk_probability)


def _record_if_unchanged(engine: Engine, run_id: int, as_of: date, parameters: dict,
                         result) -> bool:
    """A run that repeats the latest run on its date adds no history: recorded as unchanged."""
    fingerprint = getattr(result, "data_fingerprint", None)
    state = getattr(result, "state", None)
    if not fingerprint or state is None or getattr(result, "refitted", False):
        return False
    with session_scope(engine) as session:
        same = runs.same_run(session, run_id, as_of=as_of, data_fingerprint=fingerprint,
                             parameters=parameters, model_version=int(state.version))
        if same is None:
            return False
        same_id = same.id
        if not runs.mark_unchanged(session, run_id, same, data_fingerprint=fingerprint,
                                   model_version=int(state.version)):
            raise results.RunNoLongerActive(run_id)
    log.info("run %s repeats run %s: recorded as unchanged", run_id, same_id)
    return True


def describe_error(exc: BaseException) -> str:
    """The reason stored on a failed run: the exception's type and message."""
    message = str(exc).strip() or "(no message)"
    if isinstance(exc, InsidersError):
        return message
    name = type(exc).__name__
    if name == "SoftTimeLimitExceeded":
        return "the run exceeded its time limit (INSIDERS_TASK_SOFT_TIME_LIMIT) and was stopped"
    return f"{name}: {message}"
