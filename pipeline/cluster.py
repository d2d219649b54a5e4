"""Clustering of the embedding: the production mixture model and its silhouette."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture

SILHOUETTE_MAX_SAMPLES = 10_000
"""Silhouette is quadratic in the number of points; above this it is estimated on a sample."""


def fit_mixture(
    embedding: np.ndarray, n_clusters: int, *, random_state: int | None = 42, n_init: int = 10
) -> GaussianMixture:
    """The production model: a Gaussian mixture with ``n_clusters`` components."""
    return GaussianMixture(n_components=n_clusters, n_init=n_init, random_state=random_state).fit(
        embedding
    )


def silhouette(
    embedding: np.ndarray,
    labels: np.ndarray,
    *,
    random_state: int | None = 42,
    max_samples: int = SILHOUETTE_MAX_SAMPLES,
) -> float:
    """Mean silhouette (NaN with fewer than two clusters); seeded sample above ``max_samples``."""
    labels = np.asarray(labels)
    n_labels = np.unique(labels).size
    if n_labels < 2 or n_labels >= len(labels):
        return float("nan")
    sample = max_samples if len(labels) > max_samples else None
    return float(silhouette_score(embedding, labels, sample_size=sample, random_state=random_state))
