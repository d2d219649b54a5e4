"""One segmentation run, the call the worker makes: clean -> features as of a date -> fit a new
model version or score with the current one -> Insiders membership with hysteresis -> events
with reasons -> clusters table -> report."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.clean import CleaningProfile, clean_transactions
from pipeline.cluster import silhouette
from pipeline.columns import CANONICAL_COLUMNS, FEATURE_COLUMNS
from pipeline.conditions import levels
from pipeline.errors import PipelineInputError
from pipeline.features import resolve_as_of
from pipeline.identity import (
    display_color,
    display_name,
)
from pipeline.membership import assign_membership, membership_events
from pipeline.model_state import ModelState
from pipeline.plain import finite_or_none
from pipeline.progress import Progress, RunTimer
from pipeline.report import Report, build_report
from pipeline.report_forecast import FORECAST_DAYS
from pipeline.run_data import RunData, run_data_from_clean
from pipeline.run_forecast import (
    PARAMS_KEY,
    ForecastSettings,
    forecast_summary,
)
from pipeline.segment import MAX_FIT_CUSTOMERS
from pipeline.versions import fit_version, fitted_model, new_version, sample_rfm

__all__ = ["ModelState", "RunData", "RunResult", "fit_version", "run_segmentation"]

@dataclass
class RunResult:
    """Everything a run produces; the worker stores it, the CLI writes it to files."""

    labels: pd.DataFrame
    clusters: pd.DataFrame
    events: pd.DataFrame
    state: ModelState
    refitted: bool
    metrics: dict
    report: dict
    data_fingerprint: str
    cleaning: dict
    answers: Report
    """The report ``report`` was made from (for its Markdown and its CSV of Insiders' ids)."""
    forecasts: pd.DataFrame | None = None
    """Per customer (index customer_id): p_active, expected purchases and spend, at-risk and
    about-to-qualify dates and reasons (:mod:`pipeline.run_forecast`); None when not asked."""


def run_segmentation(
    transactions: pd.DataFrame | RunData,
    *,
    as_of: dt.date | str | None = None,
    profile: CleaningProfile | None = None,
    random_state: int = 42,
    n_clusters: int = 7,
    state: ModelState | None = None,
    previous: pd.DataFrame | None = None,
    refit: bool = False,
    progress: Progress | None = None,
    currency: str = "£",
    forecast: ForecastSettings | None = None,
    max_fit_customers: int = MAX_FIT_CUSTOMERS,
) -> RunResult:
    """Segment the customers of ``transactions`` (canonical columns, + line_no, cleaned here
    with ``profile``) as of ``as_of``, or of a :class:`~pipeline.run_data.RunData` (figures
    already computed, for example by the database: ``profile`` is then not used).

    ``state`` None or ``refit`` fits a new model version (version + 1); otherwise customers are
    scored with ``state``. ``previous`` (the previous run's labels: index customer_id,
    is_insiders, cluster and the features) gives each customer's previous membership and the
    before values of the reasons; ``currency`` is the symbol money is written with in them.
    ``forecast`` also looks ahead: a new version fits the forward model and keeps its
    parameters (``parameters["forecast"]``), a scoring run applies the version's. Above
    ``max_fit_customers`` customers a new version is fitted on a sample of them (drawn here, or
    beforehand: ``RunData.fit_sample``), its forward model on the same sample's RFM summary.
    """
    timer = RunTimer(progress)
    horizon = FORECAST_DAYS if forecast is None else forecast.horizon_days
    if isinstance(transactions, RunData):
        data = transactions
        if as_of is not None and resolve_as_of(pd.DataFrame(), as_of) != data.as_of:
            raise PipelineInputError(f"the run's data are as of {data.as_of}, not {as_of}")
    else:
        data = _run_data(transactions, as_of, profile, horizon, timer)
    day, features = data.as_of, data.features
    was = None if previous is None else previous["is_insiders"].astype(bool)
    refitted = state is None or refit
    if refitted:
        with timer("fit"):
            model = fitted_model(data, n_clusters, random_state, max_fit_customers,
                                  timer.within("fit"))
        with timer("version"):
            current, model_labels, embedding = new_version(model, features, day, state,
                                                            previous, was)
    else:
        if state.model is None:
            raise PipelineInputError(
                f"model version {state.version} carries no fitted model: refit to score"
            )
        with timer("score"):
            embedding = state.model.transform(features)
            model_labels = state.model.mixture_.predict(embedding)
            current = state
    with timer("membership"):
        membership = assign_membership(features, current.thresholds, was)
        events = membership_events(
            features, membership, previous, current.thresholds,
            old_thresholds=None if state is None else state.thresholds, version=current.version,
            currency=currency,
        )
        labels = _labels(features, current.stable_ids(model_labels), membership, embedding)
        clusters = clusters_table(labels, current.clusters)
    ahead, ahead_metrics = None, None
    if forecast is not None:
        with timer("forecast"):
            ahead, ahead_metrics = _look_ahead(
                data, membership, current, refitted, random_state, forecast,
                fit_rfm=sample_rfm(data, current.model) if refitted else None)
    with timer("report"):
        answers = build_report(labels, as_of=day, inputs=data.report,
                               thresholds=current.thresholds, random_state=random_state,
                               guest_id_range=data.guest_id_range, forecast_days=horizon)
    metrics = _metrics(labels, events, current, previous)
    metrics["silhouette"] = (
        current.metrics.get("silhouette") if refitted
        else finite_or_none(silhouette(embedding, model_labels, random_state=random_state))
    )
    metrics["as_of"] = day.isoformat()
    metrics["seconds"] = timer.seconds
    if ahead_metrics is not None:
        metrics["forecast"] = ahead_metrics
    return RunResult(
        labels=labels, clusters=clusters, events=events, state=current, refitted=refitted,
        metrics=metrics, report=answers.to_dict(), answers=answers,
        data_fingerprint=data.fingerprint,
        cleaning=dict(data.cleaning),
        forecasts=ahead,
    )




def _run_data(transactions: pd.DataFrame, as_of: dt.date | str | None,
              profile: CleaningProfile | None, horizon: int, timer: RunTimer) -> RunData:
    """The run's figures computed from ``transactions`` cleaned with ``profile``."""
    if profile is None:
        raise PipelineInputError("a cleaning profile is needed to segment transactions")
    with timer("clean"):
        cleaned = clean_transactions(transactions, profile)
        day = resolve_as_of(cleaned.transactions, as_of)
        fingerprint = data_fingerprint(cleaned.transactions, day)
    with timer("features"):
        return run_data_from_clean(cleaned, day, fingerprint=fingerprint, horizon_days=horizon,
                                   n_transactions=len(transactions))






def _look_ahead(data: RunData, membership: pd.Series, current: ModelState, refitted: bool,
                random_state: int, settings: ForecastSettings,
                fit_rfm: pd.DataFrame | None = None) -> tuple[pd.DataFrame | None, dict]:
    """Forecasts and their metrics with ``current``'s forward model; a new version (or an
    older one that has none) fits it, on ``fit_rfm`` (None: every customer's RFM summary),
    and a new version keeps its parameters."""
    stored = None if refitted else current.parameters.get(PARAMS_KEY)
    try:
        ahead = forecast_summary(data.rfm, data.features, membership, current.thresholds,
                                 data.as_of, params=stored, guest_id_range=data.guest_id_range,
                                 random_state=random_state, settings=settings,
                                 fit_rfm=fit_rfm)
    except PipelineInputError as exc:
        # too little history to learn from: the run still segments, without a forecast
        return None, {"error": str(exc)}
    if refitted:
        current.parameters[PARAMS_KEY] = ahead.params
    return ahead.frame, ahead.metrics




def _labels(
    features: pd.DataFrame, clusters: np.ndarray, membership: pd.Series, embedding: np.ndarray
) -> pd.DataFrame:
    labels = pd.DataFrame(
        {
            "cluster": clusters.astype("int64"),
            "is_insiders": membership.to_numpy(dtype=bool),
            "embedding_x": embedding[:, 0],
            "embedding_y": embedding[:, 1],
        },
        index=features.index.rename("customer_id"),
    )
    return labels.join(features.loc[:, list(FEATURE_COLUMNS)])


def clusters_table(labels: pd.DataFrame, identities: list[dict]) -> pd.DataFrame:
    """One row per cluster: cluster, name, color, is_insiders, size, share, revenue_share,
    profile (mean features and how many of its customers are Insiders members)."""
    grouped = labels.groupby("cluster", sort=True)
    total_revenue = float(labels["gross_revenue"].sum())
    rows = []
    for record in identities:
        cluster = int(record["cluster"])
        members = grouped.get_group(cluster) if cluster in grouped.groups else labels.iloc[:0]
        revenue = float(members["gross_revenue"].sum())
        profile = {c: finite_or_none(members[c].mean()) for c in FEATURE_COLUMNS}
        profile["insiders_members"] = int(members["is_insiders"].sum())
        rows.append({
            "cluster": cluster, "name": display_name(record["name"]),
            "color": display_color(record["color"]),
            "is_insiders": bool(record["is_insiders"]), "size": len(members),
            "share": len(members) / len(labels) if len(labels) else 0.0,
            "revenue_share": revenue / total_revenue if total_revenue else 0.0,
            "profile": profile,
        })
    return pd.DataFrame(rows, columns=["cluster", "name", "color", "is_insiders", "size", "share",
                                       "revenue_share", "profile"])


def data_fingerprint(clean: pd.DataFrame, as_of: dt.date) -> str:
    """sha256 of the cleaned rows dated up to ``as_of``, whatever their order."""
    days = clean["invoice_date"].to_numpy().astype("datetime64[D]")
    window = clean.loc[days <= np.datetime64(as_of, "D"), list(CANONICAL_COLUMNS)]
    hashes = np.sort(pd.util.hash_pandas_object(window, index=False).to_numpy())
    digest = hashlib.sha256(hashes.tobytes())
    digest.update(as_of.isoformat().encode())
    return digest.hexdigest()


def _metrics(
    labels: pd.DataFrame, events: pd.DataFrame, state: ModelState, previous: pd.DataFrame | None
) -> dict:
    member = labels["is_insiders"].to_numpy(dtype=bool)
    revenue = labels["gross_revenue"].to_numpy(dtype=float)
    in_cluster = np.isin(labels["cluster"].to_numpy(),
                         [r["cluster"] for r in state.clusters if r["is_insiders"]])
    causes = events.groupby(["kind", "cause"]).size() if len(events) else pd.Series(dtype=int)
    return {
        "n_customers": len(labels),
        "n_insiders": int(member.sum()),
        "insiders_share": float(member.mean()) if len(member) else 0.0,
        "revenue_share": float(revenue[member].sum() / revenue.sum()) if revenue.sum() else 0.0,
        "model_version": state.version,
        "thresholds": {"entry": levels(state.thresholds, "entry"),
                       "exit": levels(state.thresholds, "exit")},
        "insiders_cluster_size": int(in_cluster.sum()),
        "insiders_in_cluster": int((member & in_cluster).sum()),
        "n_events": len(events),
        "events": {f"{kind}/{cause}": int(n) for (kind, cause), n in causes.items()},
        "n_previous_missing": 0 if previous is None
        else int((~previous.index.isin(labels.index)).sum()),
    }




