"""A refit of more customers than its model is fitted on (``INSIDERS_FIT_CUSTOMERS``), in two
steps: this process fits the new model version on the sample the database drew and stores it,
then the run's customers are scored with it in partitions (:mod:`worker.partitions`) as a
scoring run's are. No process holds every customer's labels, events and forecasts at once.

The version is stored when it is fitted, before the run is published: a run that then fails
leaves it, and the next run scores with it rather than fitting again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date

from sqlalchemy import Engine

from pipeline.errors import PipelineInputError
from pipeline.partition_scoring import scores_per_customer
from pipeline.run_forecast import ForecastSettings
from pipeline.versions import fit_version
from settings import Settings
from store import results, runs
from store.db import session_scope
from store.fit_sample import count_customers
from store.run_inputs import CustomerRange
from worker import partition_run

log = logging.getLogger(__name__)

PREVIOUS_COLUMNS = ("cluster", "is_insiders")
"""What the fit reads of the previous run's labels (each customer's cluster and membership)."""
FIT_END = 45.0
"""The progress bar's share of the fit; scoring the partitions takes it on from there."""


def refit_ranges(engine: Engine, settings: Settings, as_of: date) -> list[CustomerRange]:
    """The ranges a refit as of ``as_of`` scores its customers in once its version is fitted:
    none when it fits on every customer, or when there are too few to split (as for a scoring
    run)."""
    with engine.connect() as connection:
        if count_customers(connection, as_of) <= settings.fit_customers:
            return []
        return partition_run.split(connection, settings, as_of)


def refit_in_partitions(run_id: int, inputs, *, engine: Engine, settings: Settings,
                        parameters: dict, code_version: str, forecast: ForecastSettings,
                        progress: Callable[[str, float], None]) -> str:
    """Fit and store the new model version of run ``run_id`` (``inputs``: the runner's
    ``RunInputs``, loaded for the fit alone), then queue its partitions (``inputs.split``);
    returns "partitioned"."""
    state = fit_version(inputs.data, state=inputs.state, previous=inputs.previous_labels,
                        random_state=settings.random_state, n_clusters=settings.n_clusters,
                        progress=progress, forecast=forecast,
                        max_fit_customers=settings.fit_customers)
    ranges = inputs.split
    if not scores_per_customer(state):
        raise PipelineInputError(f"model version {state.version} places customers jointly: "
                                 "it cannot score them in partitions")
    with session_scope(engine) as session:
        # first statement: takes the run's row lock, so the reaper cannot fail it under us
        if not runs.record_heartbeat(session, run_id):
            raise results.RunNoLongerActive(run_id)
        results.write_model_version(session.connection(), state, run_id=run_id,
                                    data_fingerprint=inputs.data.fingerprint,
                                    code_version=code_version,
                                    artifact_key=settings.model_artifact_key())
    partition_run.keep_model(state)
    log.info("run %s: model version %s fitted and stored; scoring in %s partitions", run_id,
             state.version, len(ranges))
    replaced = None if inputs.state is None else int(inputs.state.version)
    return partition_run.start(
        run_id, ranges, engine=engine, as_of=inputs.as_of, version=int(state.version),
        previous_run_id=inputs.previous_run_id, score_start=FIT_END,
        parameters={**parameters, "replaced_version": replaced})
