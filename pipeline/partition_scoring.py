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
from pipeline.plain import finite_or_none
from pipeline.report import build_report
from pipeline.run import _labels, clusters_table

FORECAST_SUMS = ("n_at_risk", "n_at_risk_leaving", "n_about_to_qualify", "n_without_forecast")


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
) -> PartitionScores:
    """Score ``features``' customers with ``state``; ``previous``: the previous run's labels of
    the same customers (None for a first run). ``forecast(features, membership)``, when given,
    returns their forecasts (index customer_id) and its counts (``pipeline.run_forecast``)."""
    started = time.perf_counter()
    if features.empty:
        return _empty(features, state, previous)
    if state.model is None:
        raise PipelineInputError(
            f"model version {state.version} carries no fitted model: refit to score"
        )
    embedding = state.model.transform(features)
    model_labels = state.model.mixture_.predict(embedding)
    was = None if previous is None else previous["is_insiders"].astype(bool)
    membership = assign_membership(features, state.thresholds, was)
    events = membership_events(
        features, membership, previous, state.thresholds, old_thresholds=state.thresholds,
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


@dataclass
class Combined:
    clusters: pd.DataFrame
    metrics: dict
    report: dict


def combine(
    labels: pd.DataFrame,
    summaries: list[dict],
    state: ModelState,
    *,
    as_of: dt.date,
    random_state: int,
    report_inputs: object | None,
    forecast_days: int | None = None,
    guest_id_range: tuple[int, int] | None = None,
) -> Combined:
    """The run's clusters table, metrics and report from every partition's ``labels`` (index
    customer_id) and ``summaries`` (:attr:`PartitionScores.summary`, with ``n_customers``)."""
    labels = labels.sort_index()
    if sum(int(s["n_customers"]) for s in summaries) != len(labels):
        raise PipelineInputError("the partitions' labels do not add up to the run's customers")
    member = labels["is_insiders"].to_numpy(dtype=bool)
    revenue = labels["gross_revenue"].to_numpy(dtype=float)
    in_cluster = np.isin(labels["cluster"].to_numpy(),
                         [r["cluster"] for r in state.clusters if r["is_insiders"]])
    model_labels = labels["cluster"].to_numpy()
    embedding = labels[["embedding_x", "embedding_y"]].to_numpy()
    events: dict[str, int] = {}
    for summary in summaries:
        for key, n in summary.get("events", {}).items():
            events[key] = events.get(key, 0) + int(n)
    metrics = {
        "n_customers": len(labels),
        "n_insiders": int(member.sum()),
        "insiders_share": float(member.mean()) if len(member) else 0.0,
        "revenue_share": float(revenue[member].sum() / revenue.sum()) if revenue.sum() else 0.0,
        "model_version": state.version,
        "thresholds": {"entry": levels(state.thresholds, "entry"),
                       "exit": levels(state.thresholds, "exit")},
        "insiders_cluster_size": int(in_cluster.sum()),
        "insiders_in_cluster": int((member & in_cluster).sum()),
        "n_events": sum(int(s.get("n_events", 0)) for s in summaries),
        "events": dict(sorted(events.items())),
        "n_previous_missing": sum(int(s.get("n_previous_missing", 0)) for s in summaries),
        "silhouette": finite_or_none(silhouette(embedding, model_labels,
                                                random_state=random_state)),
        "as_of": as_of.isoformat(),
        "partitions": len(summaries),
        "seconds": {"partitions": round(sum(float(s.get("seconds", 0)) for s in summaries), 3)},
    }
    ahead = [s["forecast"] for s in summaries if "forecast" in s]
    if ahead:
        metrics["forecast"] = _forecast_metrics(ahead)
    report = build_report(labels, as_of=as_of, thresholds=state.thresholds,
                          random_state=random_state, inputs=report_inputs,
                          guest_id_range=guest_id_range,
                          **({} if forecast_days is None else {"forecast_days": forecast_days}))
    return Combined(clusters=clusters_table(labels, state.clusters), metrics=metrics,
                    report=report.to_dict())


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
