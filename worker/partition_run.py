"""Whether a run is scored in partitions, and starting it so: the run's partitions recorded and
one ``insiders.score_partition`` task queued for each (see :mod:`worker.partitions`). Holds the
model versions this process has unpickled, by version.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date

from sqlalchemy import Engine, select

from pipeline.errors import PipelineInputError
from pipeline.model_state import ModelState
from pipeline.partition_scoring import scores_per_customer
from pipeline.run_forecast import PARAMS_KEY
from settings import Settings
from store import partitions, results, runs
from store import transactions as store_transactions
from store.db import session_scope
from store.partition_data import count_customers
from store.schema import ModelVersion

log = logging.getLogger(__name__)

PARTITION_TASK = "insiders.score_partition"
SCORE_START, SCORE_END = 5.0, 90.0  # the progress bar's share of the partitions
MODELS_KEPT = 2
_models: OrderedDict[int, ModelState] = OrderedDict()
_models_lock = threading.Lock()


def worker_name() -> str:
    """Who works on a partition: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def model_version(engine: Engine, version: int, artifact_key: bytes) -> ModelState:
    """Model version ``version``, unpickled once per process (the latest few kept)."""
    with _models_lock:
        if version in _models:
            _models.move_to_end(version)
            return _models[version]
    with engine.connect() as connection:
        artifact = connection.execute(
            select(ModelVersion.artifact).where(ModelVersion.version == version)
        ).scalar_one_or_none()
    if artifact is None:
        raise PipelineInputError(f"model version {version} is not stored")
    state = ModelState.from_bytes(artifact, artifact_key)
    with _models_lock:
        _models[version] = state
        while len(_models) > MODELS_KEPT:
            _models.popitem(last=False)
    return state


def start_if_due(run_id: int, *, engine: Engine, settings: Settings,
                 refit_reason: Callable[..., str | None]) -> str | None:
    """Start the claimed run ``run_id`` in partitions when :func:`plan` says so ("partitioned");
    None to run it in one process. ``refit_reason``: the runner's refit policy."""
    with engine.connect() as connection:
        last = store_transactions.max_invoice_date(connection)
        profile = store_transactions.latest_profile(connection) or settings.profile
        state = results.latest_model_state(connection, settings.model_artifact_key())
    with session_scope(engine) as session:
        run = runs.get_run(session, run_id)
        as_of = run.as_of or (last.date() if last is not None else None)
        requested = bool(run.refit)
        previous = runs.previous_run(session, as_of, run_id) if as_of else None
    if as_of is None:
        return None
    reason = refit_reason(state, as_of=as_of, requested=requested,
                          every_days=settings.refit_every_days)
    n = plan(engine, settings, state=state, refit=reason is not None, as_of=as_of)
    if not n:
        return None
    parameters = {
        "profile": profile, "n_clusters": settings.n_clusters,
        "random_state": settings.random_state, "refit": False, "refit_reason": "",
        "refit_every_days": settings.refit_every_days,
        "forecast_horizon_days": settings.forecast_horizon_days,
        "at_risk_days": settings.at_risk_days, "at_risk_probability": settings.at_risk_probability,
    }
    return start(run_id, n, engine=engine, parameters=parameters, as_of=as_of, state=state,
                 previous_run_id=previous.id if previous else None)


def plan(engine: Engine, settings: Settings, *, state: ModelState | None, refit: bool,
         as_of: date) -> int:
    """How many partitions this run is scored in; 0 for one process.

    Only a scoring run (no refit) whose model version places each customer on their own and
    carries its forward model is split; then by ``INSIDERS_PARTITIONS`` when set, else when it
    has more than ``INSIDERS_PARTITION_ROWS`` customers."""
    if refit or state is None or not scores_per_customer(state):
        return 0
    if PARAMS_KEY not in (state.parameters or {}):
        return 0
    if settings.partitions:
        return settings.partitions
    with engine.connect() as connection:
        n_customers = count_customers(connection, as_of)
    n = partitions.partition_count(n_customers, rows=settings.partition_rows)
    return n if n > 1 else 0


def start(run_id: int, n_partitions: int, *, engine: Engine, parameters: dict,
          as_of: date, state: ModelState, previous_run_id: int | None) -> str:
    """Record the run's partitions and queue a task for each; the run stays running."""
    parameters = {**parameters, "partitions": n_partitions, "model_version": int(state.version),
                  "previous_run_id": previous_run_id}
    with session_scope(engine) as session:
        runs.set_run_inputs(session, run_id, as_of=as_of, parameters=parameters)
        partitions.create_partitions(session, run_id, n_partitions)
        runs.record_progress(session, run_id, stage(0, n_partitions), SCORE_START)
    # deferred: importing the app builds it from the environment's settings
    from worker.celery_app import app

    for partition in range(n_partitions):
        app.send_task(PARTITION_TASK, args=[run_id, partition])
    log.info("run %s: %s partitions queued", run_id, n_partitions)
    return "partitioned"


def stage(done: int, total: int) -> str:
    """The run's progress stage while its partitions are scored."""
    return f"scoring: {done} of {total} parts done"
