"""A partitioned run's finishing jobs (:mod:`store.partitions`), each taken by whichever worker
process is free, and its publication from their results.

* the forecast check: fitted on the rollup alone, so it runs while the ranges are scored (when
  it is fitted as of the run's own date it needs the run's Insiders, and the report makes it);
* the silhouette and the report: from every customer's labels, once every range is scored; the
  report job also gives the run's counts and shares and its clusters table, summed over the
  combined labels exactly as one process sums them.

The publication reads only these results and the partitions' counts: no label is read again.
None of them unpickles the model version: its thresholds and clusters are stored beside it.
"""

from __future__ import annotations

import logging
from datetime import date

import pandas as pd
from sqlalchemy import Engine

from pipeline.partition_scoring import (
    check_needs_labels,
    forecast_check,
    label_figures,
    run_metrics,
    run_report,
    run_silhouette,
)
from pipeline.plain import plain_value
from pipeline.run import clusters_table
from settings import Settings
from store import partitions, results, runs
from store.db import session_scope
from store.partition_data import check_inputs, publish_data, report_after, version_facts
from store.run_inputs import rollup_day_range, rollup_guest_range
from worker.runner import code_version, forecast_settings, write_run_files

log = logging.getLogger(__name__)

CLUSTER_COLUMNS = ["cluster", "name", "color", "is_insiders", "size", "share", "revenue_share",
                   "profile"]


def run_job(kind: str, run_id: int, *, as_of: date, parameters: dict, engine: Engine,
            settings: Settings) -> dict:
    """The result of finishing job ``kind`` of run ``run_id``."""
    if kind == partitions.SILHOUETTE and parameters.get("refit"):
        return {"silhouette": None}  # a refit's silhouette is its fit's: no labels read
    horizon = forecast_settings(settings).horizon_days
    with engine.connect() as connection:
        span = rollup_day_range(connection)
        guests = rollup_guest_range(connection)
        facts = version_facts(connection, int(parameters["model_version"]))
    deferred = check_needs_labels(span, as_of, settings.forecast_horizon_days)
    if kind == partitions.CHECK:
        if deferred:
            return {"deferred": True}
        with engine.connect() as connection:
            inputs = check_inputs(connection, as_of, horizon_days=settings.forecast_horizon_days)
        return {"evidence": forecast_check(inputs, as_of, facts.thresholds,
                                           random_state=settings.random_state,
                                           guest_id_range=guests)}
    labels = results.load_labels(engine, run_id, staged=True)
    if kind == partitions.SILHOUETTE:
        return {"silhouette": run_silhouette(labels, random_state=settings.random_state)}
    with engine.connect() as connection:
        read = check_inputs if deferred else report_after
        inputs = read(connection, as_of, horizon_days=settings.forecast_horizon_days)
    report = run_report(labels, facts.thresholds, as_of=as_of, random_state=settings.random_state,
                        report_inputs=inputs, forecast=None if deferred else {},
                        forecast_days=horizon, guest_id_range=guests)
    return {"report": report, "forecast_made": deferred,
            "figures": label_figures(labels, facts.clusters),
            "clusters": plain_value(clusters_table(labels, facts.clusters))}


def publish(run_id: int, *, engine: Engine, settings: Settings) -> str | None:
    """Publish the run from its jobs' results, if this process is the one to do it."""
    with session_scope(engine) as session:
        if not partitions.claim_publication(session, run_id):
            return None
        run = runs.get_run(session, run_id)
        as_of, parameters = run.as_of, dict(run.parameters or {})
    version = int(parameters["model_version"])
    with engine.connect() as connection:
        facts = version_facts(connection, version)
        summaries = partitions.summaries(connection, run_id)
        done = partitions.job_results(connection, run_id)
        data = publish_data(connection, as_of)
    made = done[partitions.REPORT]
    report = dict(made["report"])
    if not made["forecast_made"]:
        report["forecast"] = done[partitions.CHECK]["evidence"]
    refitted = bool(parameters.get("refit"))
    # a refit's silhouette is its fit's, as in one process
    silhouette = ((facts.metrics or {}).get("silhouette") if refitted
                  else done[partitions.SILHOUETTE]["silhouette"])
    metrics = {**run_metrics(summaries, made["figures"], version=version,
                             thresholds=facts.thresholds, as_of=as_of,
                             silhouette_value=silhouette),
               "cleaning": data.cleaning, "refitted": refitted}
    if refitted and "forecast" in metrics:
        metrics["forecast"]["fitted"] = True
    values = {
        "model_version": version, "data_fingerprint": data.fingerprint,
        "code_version": code_version(), "n_customers": metrics["n_customers"],
        "n_insiders": metrics["n_insiders"], "insiders_share": metrics["insiders_share"],
        "revenue_share": metrics["revenue_share"], "silhouette": silhouette,
        "metrics": metrics, "report": report, "random_state": settings.random_state,
    }
    with session_scope(engine) as session:
        if not refitted and _mark_unchanged(session, run_id, as_of, parameters,
                                            data.fingerprint, version):
            partitions.discard_rows(session.connection(), run_id)
            return "unchanged"
        partitions.publish(session, run_id, values,
                           pd.DataFrame(made["clusters"], columns=CLUSTER_COLUMNS))
    log.info("run %s published from %s partitions", run_id, len(summaries))
    write_run_files(engine, run_id, settings.currency)
    return "succeeded"


def _mark_unchanged(session, run_id: int, as_of: date, parameters: dict, fingerprint: str,
                    version: int) -> bool:
    """A run that repeats the latest run on its date adds no history (as a single process)."""
    same = runs.same_run(session, run_id, as_of=as_of, data_fingerprint=fingerprint,
                         parameters=parameters, model_version=version)
    if same is None:
        return False
    if not runs.mark_unchanged(session, run_id, same, data_fingerprint=fingerprint,
                               model_version=version):
        raise results.RunNoLongerActive(run_id)
    return True
