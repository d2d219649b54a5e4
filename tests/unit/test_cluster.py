"""The mixture model, silhouette and the model-selection table."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.cluster import fit_mixture, silhouette
from pipeline.selection import select_models
from tests.unit.model_data import make_features


@pytest.fixture(scope="module")
def blobs() -> np.ndarray:
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [8, 0], [0, 8], [8, 8]])
    return np.vstack([c + rng.normal(scale=0.6, size=(60, 2)) for c in centres])


def test_mixture_is_seeded(blobs: np.ndarray) -> None:
    first = fit_mixture(blobs, 4, random_state=1).predict(blobs)
    second = fit_mixture(blobs, 4, random_state=1).predict(blobs)
    np.testing.assert_array_equal(first, second)
    assert np.unique(first).size == 4


def test_silhouette_of_one_cluster_is_nan(blobs: np.ndarray) -> None:
    assert np.isnan(silhouette(blobs, np.zeros(len(blobs), dtype=int)))
    labels = np.repeat(np.arange(4), 60)
    assert silhouette(blobs, labels) > 0.7


def test_silhouette_samples_large_inputs(blobs: np.ndarray) -> None:
    labels = np.repeat(np.arange(4), 60)
    sampled = silhouette(blobs, labels, max_samples=100, random_state=3)
    assert sampled == silhouette(blobs, labels, max_samples=100, random_state=3)
    assert abs(sampled - silhouette(blobs, labels)) < 0.1


def test_select_models_table(blobs: np.ndarray) -> None:
    features = make_features(len(blobs))
    calls: list[float] = []
    table = select_models(
        features, k_range=range(2, 7), embedding=blobs, progress=lambda s, f: calls.append(f)
    )
    assert list(table.columns) == [
        "algorithm",
        "k",
        "eps",
        "n_clusters",
        "noise_share",
        "silhouette",
    ]
    assert set(table["algorithm"]) == {"kmeans", "gmm", "agglomerative", "dbscan"}
    for algorithm in ("kmeans", "gmm", "agglomerative"):
        assert sorted(table.loc[table["algorithm"] == algorithm, "k"]) == [2, 3, 4, 5, 6]
    scores = table["silhouette"].dropna().to_numpy()
    assert (np.diff(scores) <= 0).all()
    assert table.iloc[0]["n_clusters"] == 4
    assert calls[-1] == 1.0


def test_select_models_samples_large_inputs(blobs: np.ndarray) -> None:
    table = select_models(make_features(len(blobs)), k_range=[4], embedding=blobs, max_samples=120)
    assert table.loc[table["algorithm"] == "kmeans", "n_clusters"].item() == 4
