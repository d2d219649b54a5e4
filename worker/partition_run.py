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

from sqlalchemy import Connection, Engine

from pipeline.artifact import exact_part_names
from pipeline.model_state import ModelState
from pipeline.partition_scoring import SCORES_PER_CUSTOMER, scores_per_customer
from pipeline.run_forecast import PARAMS_KEY
from settings import Settings
from store import partitions, runs
from store import transactions as store_transactions
from store.db import session_scope
from store.partition_data import version_facts
from store.results import model_state
from store.run_inputs import CustomerRange

log = logging.getLogger(__name__)

PARTITION_TASK = "insiders.score_partition"
SCORE_START, SCORE_END = 5.0, 90.0  # the progress bar's share of the partitions
MODELS_KEPT = 2
_models: OrderedDict[int, ModelState] = OrderedDict()
_models_lock = threading.Lock()
_loading: dict[int, threading.Lock] = {}  # a version being loaded, by version


def worker_name() -> str:
    """Who works on a partition: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def model_version(engine: Engine, version: int, artifact_key: bytes) -> ModelState:
    """Model version ``version``, unpickled once per process (the latest few kept); a caller
    arriving while another thread loads it waits for that load."""
    with _models_lock:
        if version in _models:
            _models.move_to_end(version)
            return _models[version]
        loading = _loading.setdefault(version, threading.Lock())
    with loading:
        with _models_lock:
            if version in _models:
                return _models[version]
        try:
            state = _load(engine, version, artifact_key)
        except BaseException:
            with _models_lock:
                _loading.pop(version, None)
            raise
        with _models_lock:
            _keep(version, state)
            _loading.pop(version, None)
    return state


def _keep(version: int, state: ModelState) -> None:
    """Hold ``state`` as the latest used version (the caller holds ``_models_lock``)."""
    _models[version] = state
    _models.move_to_end(version)
    while len(_models) > MODELS_KEPT:
        _models.popitem(last=False)


def _load(engine: Engine, version: int, artifact_key: bytes) -> ModelState:
    with engine.connect() as connection:
        state = model_state(connection, version, artifact_key, exact=False)
        if not scores_per_customer(state):  # it scores with the exact transform: read it all
            state = model_state(connection, version, artifact_key)
    return _for_scoring(state)


def _for_scoring(state: ModelState) -> ModelState:
    """A version that places each customer with its fast scorer keeps, in this process, only
    what scoring reads: the embedding's own forest and UMAP (fitting's, and the exact
    transform's) are dropped, about 190 MB of a 220 MB artifact. Read from its artifact, such a
    version is read without them (:class:`pipeline.artifact.ArtifactReader`); this drops them
    from a version fitted here or stored in the format before."""
    if scores_per_customer(state):
        for name in exact_part_names(state.model):
            state.model.__dict__.pop(name, None)
    return state


def keep_model(state: ModelState) -> None:
    """Keep the version this process has just fitted for its partitions, as if unpickled: the
    process then scores with the model in its memory, not with a second copy read back."""
    with _models_lock:
        _keep(int(state.version), _for_scoring(state))


def prefetch(engine: Engine, version: int, artifact_key: bytes) -> None:
    """Start loading model version ``version`` in a thread unless this process holds it, so its
    reading from the database overlaps the work before the process's first range."""
    with _models_lock:
        if version in _models or version in _loading:
            return

    def load() -> None:
        try:
            model_version(engine, version, artifact_key)
        except Exception:  # the range that needs it loads it again and fails with the reason
            log.warning("loading model version %s ahead failed", version, exc_info=True)

    threading.Thread(target=load, daemon=True, name=f"model-{version}").start()


def start_if_due(run_id: int, *, engine: Engine, settings: Settings,
                 refit_reason: Callable[..., str | None]) -> str | None:
    """Start the claimed run ``run_id`` in partitions when :func:`plan` says so ("partitioned");
    None to run it in one process. ``refit_reason``: the runner's refit policy. The model
    version is not unpickled here unless it predates its stored scoring flag."""
    with engine.connect() as connection:
        last = store_transactions.max_invoice_date(connection)
        profile = store_transactions.latest_profile(connection) or settings.profile
        facts = version_facts(connection)
    with session_scope(engine) as session:
        run = runs.get_run(session, run_id)
        as_of = run.as_of or (last.date() if last is not None else None)
        requested = bool(run.refit)
        previous = runs.previous_run(session, as_of, run_id) if as_of else None
    if as_of is None:
        return None
    reason = refit_reason(facts, as_of=as_of, requested=requested,
                          every_days=settings.refit_every_days)
    ranges = plan(engine, settings, facts=facts, refit=reason is not None, as_of=as_of)
    if not ranges:
        return None
    parameters = {
        "profile": profile, "n_clusters": settings.n_clusters,
        "random_state": settings.random_state, "refit": False, "refit_reason": "",
        "refit_every_days": settings.refit_every_days,
        "forecast_horizon_days": settings.forecast_horizon_days,
        "at_risk_days": settings.at_risk_days, "at_risk_probability": settings.at_risk_probability,
    }
    return start(run_id, ranges, engine=engine, parameters=parameters, as_of=as_of,
                 version=int(facts.version), previous_run_id=previous.id if previous else None)


def plan(engine: Engine, settings: Settings, *, facts, refit: bool,
         as_of: date) -> list[CustomerRange]:
    """The ranges of customers this run is scored in; none for one process.

    Only a scoring run (no refit) whose model version places each customer on their own and
    carries its forward model is split (as its stored parameters say); then in
    ``INSIDERS_PARTITIONS`` ranges when set, else when it has more than
    ``INSIDERS_PARTITION_ROWS`` customers."""
    if refit or facts is None:
        return []
    stored = dict(facts.parameters or {})
    if PARAMS_KEY not in stored:
        return []
    if SCORES_PER_CUSTOMER in stored:
        per_customer = bool(stored[SCORES_PER_CUSTOMER])
    else:  # a version stored before the flag: loaded once, kept for the partitions
        per_customer = scores_per_customer(
            model_version(engine, int(facts.version), settings.model_artifact_key()))
    if not per_customer:
        return []
    with engine.connect() as connection:
        return split(connection, settings, as_of)


def split(connection: Connection, settings: Settings, as_of: date) -> list[CustomerRange]:
    """The ranges of customer id a run as of ``as_of`` is scored in: ``INSIDERS_PARTITIONS``
    of them when set, else one per ``INSIDERS_PARTITION_ROWS`` customers; none (one process)
    when that makes a single range."""
    ranges = partitions.customer_ranges(connection, as_of, rows=settings.partition_rows,
                                        fixed=settings.partitions)
    return ranges if len(ranges) > 1 or settings.partitions else []


def start(run_id: int, ranges: list[CustomerRange], *, engine: Engine, parameters: dict,
          as_of: date, version: int, previous_run_id: int | None,
          score_start: float = SCORE_START) -> str:
    """Record the run's partitions and queue a task for each; the run stays running, its
    progress bar going on from ``score_start`` percent."""
    parameters = {**parameters, "partitions": len(ranges), "model_version": version,
                  "previous_run_id": previous_run_id, "score_start": score_start}
    with session_scope(engine) as session:
        runs.set_run_inputs(session, run_id, as_of=as_of, parameters=parameters)
        order = partitions.create_partitions(session, run_id, ranges)
        runs.record_progress(session, run_id, stage(0, len(ranges)), score_start)
    # deferred: importing the app builds it from the environment's settings
    from worker.celery_app import app

    for partition in order:
        app.send_task(PARTITION_TASK, args=[run_id, partition])
    log.info("run %s: %s partitions queued", run_id, len(ranges))
    return "partitioned"


def stage(done: int, total: int) -> str:
    """The run's progress stage while its partitions are scored."""
    return f"scoring: {done} of {total} parts done"
