"""Clustering of the embedding: the production mixture model and the model-selection table."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, ward
from sklearn.cluster import DBSCAN, KMeans
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors

Progress = Callable[[str, float], None]

SILHOUETTE_MAX_SAMPLES = 10_000
"""Silhouette is quadratic in the number of points; above this it is estimated on a sample."""

SELECTION_MAX_SAMPLES = 20_000
"""Agglomerative clustering needs quadratic memory; selection above this runs on a sample."""


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


def select_models(
    features: pd.DataFrame,
    *,
    k_range: Iterable[int] = range(2, 13),
    random_state: int = 42,
    progress: Progress | None = None,
    embedding: np.ndarray | None = None,
    max_samples: int = SELECTION_MAX_SAMPLES,
) -> pd.DataFrame:
    """Score KMeans, GMM, agglomerative (Ward) and DBSCAN on the leaf embedding by silhouette.

    Returns one row per fitted model: algorithm, k (requested clusters, or NaN for DBSCAN),
    eps (DBSCAN only), n_clusters (found), noise_share (DBSCAN), silhouette; best first.
    """
    if embedding is None:
        from pipeline.segment import SegmentationModel

        embedding = SegmentationModel(random_state=random_state).embed(features, progress=progress)
    embedding = _sample(np.asarray(embedding, dtype=np.float64), max_samples, random_state)
    ks = [k for k in k_range if 2 <= k < len(embedding)]
    runs = [
        *(("kmeans", k) for k in ks),
        *(("gmm", k) for k in ks),
        ("agglomerative", None),
        ("dbscan", None),
    ]
    rows: list[dict] = []
    for i, (algorithm, k) in enumerate(runs):
        if algorithm == "kmeans":
            rows.append(
                _row("kmeans", k, _kmeans(embedding, k, random_state), embedding, random_state)
            )
        elif algorithm == "gmm":
            labels = fit_mixture(embedding, k, random_state=random_state).predict(embedding)
            rows.append(_row("gmm", k, labels, embedding, random_state))
        elif algorithm == "agglomerative":
            rows.extend(_agglomerative(embedding, ks, random_state))
        else:
            rows.extend(_dbscan(embedding, random_state))
        if progress:
            progress("select", (i + 1) / len(runs))
    table = pd.DataFrame(
        rows, columns=["algorithm", "k", "eps", "n_clusters", "noise_share", "silhouette"]
    )
    return table.sort_values(
        "silhouette", ascending=False, na_position="last", kind="stable"
    ).reset_index(drop=True)


def _sample(embedding: np.ndarray, max_samples: int, random_state: int) -> np.ndarray:
    if len(embedding) <= max_samples:
        return embedding
    rng = np.random.default_rng(random_state)
    return embedding[np.sort(rng.choice(len(embedding), max_samples, replace=False))]


def _kmeans(embedding: np.ndarray, k: int, random_state: int) -> np.ndarray:
    return KMeans(n_clusters=k, n_init=10, random_state=random_state).fit_predict(embedding)


def _agglomerative(embedding: np.ndarray, ks: list[int], random_state: int) -> list[dict]:
    tree = ward(embedding)  # one Ward tree, cut at every k
    return [
        _row("agglomerative", k, fcluster(tree, k, criterion="maxclust"), embedding, random_state)
        for k in ks
    ]


def _dbscan(embedding: np.ndarray, random_state: int, min_samples: int = 20) -> list[dict]:
    # Candidate radii from the distribution of each point's distance to its min_samples-th
    # neighbour, so the grid follows the embedding's scale.
    distances, _ = NearestNeighbors(n_neighbors=min_samples).fit(embedding).kneighbors(embedding)
    eps_grid = np.unique(np.round(np.quantile(distances[:, -1], [0.5, 0.75, 0.9, 0.95, 0.99]), 4))
    rows = []
    for eps in eps_grid:
        labels = DBSCAN(eps=float(eps), min_samples=min_samples).fit_predict(embedding)
        core = labels >= 0
        row = _row("dbscan", None, labels[core], embedding[core], random_state)
        row.update(eps=float(eps), noise_share=float(1 - core.mean()))
        rows.append(row)
    return rows


def _row(
    algorithm: str, k: int | None, labels: np.ndarray, embedding: np.ndarray, random_state: int
) -> dict:
    return {
        "algorithm": algorithm,
        "k": k,
        "eps": np.nan,
        "n_clusters": int(np.unique(labels).size),
        "noise_share": 0.0,
        "silhouette": silhouette(embedding, labels, random_state=random_state),
    }
