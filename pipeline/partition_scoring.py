"""A scoring run in parts: each partition of customers is scored on its own, then the parts are
combined into the run's clusters table, metrics and report.

Everything a scoring run decides about a customer depends on that customer alone: the model
version places them (the fast scorer: a forest applied row by row) and picks their cluster,
membership compares their own features with the version's levels and their own previous
membership, their event and its reason use their own figures, their forecast their own purchase
summary. So scoring the customers in any split and putting the rows together gives the same
labels, events and forecasts as scoring them at once. What depends on every customer (the
clusters table, the shares, the silhouette, the report) is computed once, from the combined
labels, with the same functions as :func:`pipeline.run.run_segmentation`.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.cluster import silhouette
from pipeline.conditions import levels
from pipeline.errors import PipelineInputError
from pipeline.membership import EVENT_COLUMNS, assign_membership, membership_events
from pipeline.model_state import ModelState
from pipeline.plain import finite_or_none, plain_value
from pipeline.report import build_report
from pipeline.report_forecast import evidence_from_inputs
from pipeline.report_inputs import ReportInputs, check_day
from pipeline.run import _labels

FORECAST_SUMS = ("n_at_risk", "n_at_risk_leaving", "n_about_to_qualify", "n_without_forecast")
SCORES_PER_CUSTOMER = "scores_per_customer"
"""The key of a model version's stored parameters saying :func:`scores_per_customer`, so a run
decides its split without unpickling the version."""


@dataclass
class PartitionScores:
    """One partition's rows (labels, events, forecasts) and its counts for the run's metrics."""

    labels: pd.DataFrame
    events: pd.DataFrame
    forecasts: pd.DataFrame | None
    summary: dict


def scores_per_customer(state: ModelState) -> bool:
    """Whether ``state`` places each customer on their own (the fast scorer), so that scoring in
    parts gives the same result as scoring everyone at once. UMAP's exact transform, used by a
    model fitted on every customer of a small data set, places new customers jointly."""
    model = state.model
    return model is not None and bool(getattr(model, "fast_scoring_", False))


def score_partition(
    features: pd.DataFrame,
    state: ModelState,
    previous: pd.DataFrame | None,
    *,
    currency: str = "£",
    forecast=None,
    refit: bool = False,
    old_thresholds: dict | None = None,
) -> PartitionScores:
    """Score ``features``' customers with ``state``; ``previous``: the previous run's labels of
    the same customers (None for a first run). ``forecast(features, membership)``, when given,
    returns their forecasts (index customer_id) and its counts (``pipeline.run_forecast``).

    ``refit``: ``state`` was just fitted by this run (:func:`pipeline.run.fit_version`), so its
    fitted customers keep the places the fit gave them, and the reasons of the events compare
    its thresholds with ``old_thresholds``, those of the version it replaces (None: the first),
    as :func:`pipeline.run.run_segmentation` does in one process."""
    started = time.perf_counter()
    if features.empty:
        return _empty(features, state, previous)
    if state.model is None:
        raise PipelineInputError(
            f"model version {state.version} carries no fitted model: refit to score"
        )
    embedding = state.model.place(features) if refit else state.model.transform(features)
    model_labels = state.model.mixture_.predict(embedding)
    was = None if previous is None else previous["is_insiders"].astype(bool)
    membership = assign_membership(features, state.thresholds, was)
    events = membership_events(
        features, membership, previous, state.thresholds,
        old_thresholds=old_thresholds if refit else state.thresholds,
        version=state.version, currency=currency,
    )
    labels = _labels(features, state.stable_ids(model_labels), membership, embedding)
    ahead, ahead_metrics = (None, None) if forecast is None else forecast(features, membership)
    causes = events.groupby(["kind", "cause"]).size() if len(events) else pd.Series(dtype=int)
    summary = {
        "n_insiders": int(membership.sum()),
        "n_events": len(events),
        "events": {f"{kind}/{cause}": int(n) for (kind, cause), n in causes.items()},
        "n_previous_missing": 0 if previous is None
        else int((~previous.index.isin(features.index)).sum()),
        "seconds": round(time.perf_counter() - started, 3),
    }
    if ahead_metrics is not None:
        summary["forecast"] = ahead_metrics
    return PartitionScores(labels=labels, events=events, forecasts=ahead, summary=summary)


def _empty(features: pd.DataFrame, state: ModelState,
           previous: pd.DataFrame | None) -> PartitionScores:
    """A partition without customers (more partitions than customers)."""
    labels = _labels(features, np.zeros(0, dtype="int64"), pd.Series([], dtype=bool),
                     np.zeros((0, 2)))
    missing = 0 if previous is None else len(previous)
    return PartitionScores(labels=labels, events=pd.DataFrame(columns=list(EVENT_COLUMNS)),
                           forecasts=None, summary={"n_insiders": 0, "n_events": 0,
                                                    "events": {}, "n_previous_missing": missing,
                                                    "seconds": 0.0})


def label_figures(labels: pd.DataFrame, identities: list[dict]) -> dict:
    """The run's counts and shares from every customer's ``labels`` (index customer_id, in
    order), summed as one process sums them; ``identities``: the model version's clusters."""
    labels = labels.sort_index()
    member = labels["is_insiders"].to_numpy(dtype=bool)
    revenue = labels["gross_revenue"].to_numpy(dtype=float)
    in_cluster = np.isin(labels["cluster"].to_numpy(),
                         [r["cluster"] for r in identities if r["is_insiders"]])
    return {
        "n_customers": len(labels),
        "n_insiders": int(member.sum()),
        "insiders_share": float(member.mean()) if len(member) else 0.0,
        "revenue_share": float(revenue[member].sum() / revenue.sum()) if revenue.sum() else 0.0,
        "insiders_cluster_size": int(in_cluster.sum()),
        "insiders_in_cluster": int((member & in_cluster).sum()),
    }


def run_silhouette(labels: pd.DataFrame, *, random_state: int) -> float | None:
    """The run's silhouette from every customer's cluster and position (``labels``)."""
    labels = labels.sort_index()
    return finite_or_none(silhouette(labels[["embedding_x", "embedding_y"]].to_numpy(),
                                     labels["cluster"].to_numpy(), random_state=random_state))


def check_needs_labels(span: tuple[dt.date, dt.date] | None, as_of: dt.date,
                       horizon_days: int) -> bool:
    """Whether the report's forecast check needs the run's Insiders: it is fitted as of the
    run's own date (the data, first to last day ``span``, hold no ``horizon_days`` after an
    earlier one), so it waits until every partition is scored."""
    return span is not None and check_day(*span, as_of, horizon_days) == as_of


def forecast_check(inputs: ReportInputs | None, as_of: dt.date, thresholds: dict, *,
                   random_state: int, guest_id_range: tuple[int, int] | None,
                   labels: pd.DataFrame | None = None) -> dict | None:
    """The report's forecast check (question 7), as :func:`pipeline.report.build_report` makes
    it; ``labels`` only when :func:`check_needs_labels`."""
    labels = pd.DataFrame({"is_insiders": pd.Series(dtype=bool)}) if labels is None else labels
    return plain_value(evidence_from_inputs(labels, inputs, as_of, thresholds,
                                            guest_id_range=guest_id_range,
                                            random_state=random_state))


def run_report(labels: pd.DataFrame, thresholds: dict, *, as_of: dt.date, random_state: int,
               report_inputs: ReportInputs | None, forecast: dict | None = None,
               forecast_days: int | None = None,
               guest_id_range: tuple[int, int] | None = None) -> dict:
    """The run's report from every customer's ``labels``; ``forecast``: its forecast check
    made beforehand (:func:`forecast_check`), else made here."""
    report = build_report(labels, as_of=as_of, thresholds=thresholds,
                          random_state=random_state, inputs=report_inputs,
                          guest_id_range=guest_id_range, forecast=forecast,
                          **({} if forecast_days is None else {"forecast_days": forecast_days}))
    return report.to_dict()


def run_metrics(summaries: list[dict], figures: dict, *, version: int, thresholds: dict,
                as_of: dt.date, silhouette_value: float | None) -> dict:
    """The run's metrics from its partitions' ``summaries`` (:attr:`PartitionScores.summary`
    with ``n_customers``), :func:`label_figures` and :func:`run_silhouette`."""
    if sum(int(s["n_customers"]) for s in summaries) != figures["n_customers"]:
        raise PipelineInputError("the partitions' labels do not add up to the run's customers")
    events: dict[str, int] = {}
    for summary in summaries:
        for key, n in summary.get("events", {}).items():
            events[key] = events.get(key, 0) + int(n)
    metrics = {
        **{k: figures[k] for k in ("n_customers", "n_insiders", "insiders_share",
                                   "revenue_share")},
        "model_version": version,
        "thresholds": {"entry": levels(thresholds, "entry"),
                       "exit": levels(thresholds, "exit")},
        "insiders_cluster_size": figures["insiders_cluster_size"],
        "insiders_in_cluster": figures["insiders_in_cluster"],
        "n_events": sum(int(s.get("n_events", 0)) for s in summaries),
        "events": dict(sorted(events.items())),
        "n_previous_missing": sum(int(s.get("n_previous_missing", 0)) for s in summaries),
        "silhouette": silhouette_value,
        "as_of": as_of.isoformat(),
        "partitions": len(summaries),
        "seconds": {"partitions": round(sum(float(s.get("seconds", 0)) for s in summaries), 3)},
    }
    ahead = [s["forecast"] for s in summaries if "forecast" in s]
    if ahead:
        metrics["forecast"] = _forecast_metrics(ahead)
    return metrics


def _forecast_metrics(parts: list[dict]) -> dict:
    """The forecast's metrics of the whole run from those of its partitions."""
    first = parts[0]
    out = {key: first[key] for key in ("horizon_days", "at_risk_days", "at_risk_probability")
           if key in first}
    for key in FORECAST_SUMS:
        out[key] = sum(int(p.get(key, 0)) for p in parts)
    out["expected_spend"] = float(sum(float(p.get("expected_spend", 0.0)) for p in parts))
    out["fitted"] = False
    out["fit_seconds"] = None
    out["seconds"] = round(sum(float(p.get("seconds", 0.0)) for p in parts), 3)
    return out
