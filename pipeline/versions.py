"""A new model version: the segmentation model fitted on the customers or on a sample of them,
its clusters matched to the previous version's and its levels approached from the previous
version's in bounded steps (:mod:`pipeline.thresholds`)."""

from __future__ import annotations

import datetime as dt
from contextlib import suppress

import numpy as np
import pandas as pd

from pipeline.errors import PipelineInputError
from pipeline.identity import cluster_identities, match_clusters
from pipeline.membership import assign_membership
from pipeline.model_state import ModelState
from pipeline.plain import finite_or_none, plain_value
from pipeline.profiles import cluster_profiles
from pipeline.progress import Progress, RunTimer
from pipeline.run_data import RunData
from pipeline.run_forecast import PARAMS_KEY, ForecastSettings, fit_forward_summary
from pipeline.segment import MAX_FIT_CUSTOMERS, SegmentationModel
from pipeline.thresholds import SmoothingPolicy, ThresholdPolicy, has_character, next_thresholds


def fit_version(
    data: RunData,
    *,
    state: ModelState | None,
    previous: pd.DataFrame | None,
    random_state: int = 42,
    n_clusters: int = 7,
    progress: Progress | None = None,
    forecast: ForecastSettings | None = None,
    max_fit_customers: int = MAX_FIT_CUSTOMERS,
) -> ModelState:
    """The model version a refit of ``data`` makes, as :func:`run_segmentation` makes it, with
    its forward model's parameters when ``forecast`` is given and the data allow a fit; no
    customer is scored (a refit of a large data set scores them in partitions afterwards)."""
    timer = RunTimer(progress)
    was = None if previous is None else previous["is_insiders"].astype(bool)
    with timer("fit"):
        model = fitted_model(data, n_clusters, random_state, max_fit_customers,
                              timer.within("fit"))
    with timer("version"):
        current, _labels, _embedding = new_version(model, data.features, data.as_of, state,
                                                    previous, was)
    if forecast is not None:
        sample = sample_rfm(data, model)
        # too little history to learn from: the version looks no further ahead
        with timer("forecast"), suppress(PipelineInputError):
            current.parameters[PARAMS_KEY] = fit_forward_summary(
                data.rfm if sample is None else sample, data.as_of,
                guest_id_range=data.guest_id_range, random_state=random_state,
                max_fit_customers=forecast.max_fit_customers)
    return current


def fitted_model(data: RunData, n_clusters: int, random_state: int, max_customers: int,
                  progress: Progress) -> SegmentationModel:
    """A new segmentation model, fitted on the sample the database drew (``data.fit_sample``)
    or on ``data.features`` (drawing its sample above ``MAX_FIT_CUSTOMERS``)."""
    model = SegmentationModel(n_clusters=n_clusters, random_state=random_state,
                              max_fit_customers=max_customers)
    sample = data.fit_sample
    if sample is None:
        return model.fit(data.features, progress=progress)
    drawn = (sample.random_state, sample.max_customers, sample.drawn_from)
    if drawn != (random_state, max_customers, len(data.features)):
        raise PipelineInputError(
            f"the fitting sample (seed, size, customers {drawn}) was not drawn as this run "
            f"draws it {(random_state, max_customers, len(data.features))}")
    return model.fit(sample.features, progress=progress, drawn_from=sample.drawn_from)


def sample_rfm(data: RunData, model: SegmentationModel | None) -> pd.DataFrame | None:
    """The RFM summary a new version's forward model fits on: the segmentation's fitting
    sample's when it fitted on a sample (the same customers whichever drew it), else None
    (every customer's)."""
    if data.fit_sample is not None:
        return data.fit_sample.rfm
    if model is None or not model.fitted_on_sample_:
        return None
    fitted = pd.Index(model.customer_ids_[model.fit_sample_])
    return data.rfm.loc[data.rfm.index.intersection(fitted, sort=False).sort_values()]


def new_version(
    model: SegmentationModel,
    features: pd.DataFrame,
    day: dt.date,
    state: ModelState | None,
    previous: pd.DataFrame | None,
    was: pd.Series | None,
) -> tuple[ModelState, np.ndarray, np.ndarray]:
    """Model version ``state.version + 1`` (1 without ``state``) around the freshly fitted
    ``model``: clusters matched to ``state``'s, thresholds smoothed from its thresholds."""
    embedding = model.place(features)
    model_labels = model.mixture_.predict(embedding)
    insiders = model_labels == model.insiders_cluster_
    mapping = {}
    if state is not None:
        old = previous["cluster"] if previous is not None and "cluster" in previous else None
        old_profiles = pd.DataFrame(
            [r["profile"] for r in state.clusters], index=[r["cluster"] for r in state.clusters]
        )
        mapping = match_clusters(
            pd.Series(model_labels, index=features.index), old,
            cluster_profiles(features, model_labels), old_profiles,
        )
    clusters = cluster_identities(
        features, model_labels, int(model.insiders_cluster_),
        None if state is None else state.clusters, mapping, n_components=model.n_clusters,
    )
    policy, smoothing = ThresholdPolicy(), SmoothingPolicy()
    thresholds = next_thresholds(
        features, insiders, None if state is None else state.thresholds, was, policy, smoothing
    )
    current = ModelState(
        version=1 if state is None else state.version + 1,
        fitted_as_of=day,
        parameters={"n_clusters": model.n_clusters, "random_state": model.random_state,
                    "n_estimators": model.n_estimators, "umap_neighbors": model.umap_neighbors,
                    "threshold_policy": plain_value(vars(policy)),
                    "smoothing_policy": plain_value(vars(smoothing))},
        thresholds=thresholds,
        clusters=clusters,
        metrics={"n_customers": len(features), "silhouette": finite_or_none(model.silhouette_),
                 "insiders_cluster_size": int(insiders.sum()),
                 "thresholds_changed": _changed(state, thresholds),
                 "character_kept": has_character(
                     features, assign_membership(features, thresholds, was), policy)},
        model=model,
    )
    return current, model_labels, embedding


def _changed(state: ModelState | None, thresholds: dict) -> list[str]:
    if state is None:
        return []
    return [f"{feature} {side} {state.thresholds[side][feature]['value']} -> {rule['value']}"
            for side in ("entry", "exit") for feature, rule in thresholds[side].items()
            if rule["value"] != state.thresholds[side][feature]["value"]]
