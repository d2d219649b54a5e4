"""Model selection: KMeans, Gaussian mixtures, agglomerative (Ward) and DBSCAN on the leaf
embedding, compared by silhouette."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, ward
from sklearn.cluster import DBSCAN, KMeans
from sklearn.neighbors import NearestNeighbors

from pipeline.cluster import fit_mixture, silhouette
from pipeline.segment import SegmentationModel

Progress = Callable[[str, float], None]

SELECTION_MAX_SAMPLES = 20_000
"""Agglomerative clustering needs quadratic memory; selection above this runs on a sample."""


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
