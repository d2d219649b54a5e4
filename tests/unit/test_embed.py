"""The forest-leaf UMAP embedding."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.embed import ExactNeighborIndex, LeafEmbedding
from tests.unit.model_data import make_features


@pytest.fixture(scope="module")
def matrix() -> np.ndarray:
    return make_features(200, seed=1).to_numpy(dtype=float)


@pytest.fixture(scope="module")
def fitted(matrix: np.ndarray) -> LeafEmbedding:
    return LeafEmbedding(n_estimators=20, random_state=0).fit(matrix)


def test_init_only_stores_parameters() -> None:
    embedder = LeafEmbedding(n_estimators=7, umap_neighbors=9, random_state=3)
    assert embedder.get_params()["n_estimators"] == 7
    assert not [name for name in vars(embedder) if name.endswith("_")]


def test_fit_learns_scaler_forest_and_two_dimensions(fitted: LeafEmbedding, matrix) -> None:
    assert fitted.embedding_.shape == (len(matrix), 2)
    assert np.isfinite(fitted.embedding_).all()
    assert len(fitted.forest_.estimators_) == 20
    assert fitted.leaves(matrix).shape == (len(matrix), 20)
    # the forest predicts the scaled target (column 0) from the other columns
    assert fitted.forest_.n_features_in_ == matrix.shape[1] - 1


def test_same_seed_same_embedding(fitted: LeafEmbedding, matrix) -> None:
    again = LeafEmbedding(n_estimators=20, random_state=0).fit(matrix)
    np.testing.assert_array_equal(again.embedding_, fitted.embedding_)


def test_transform_places_new_rows(fitted: LeafEmbedding) -> None:
    new = make_features(25, seed=7).to_numpy(dtype=float)
    placed = fitted.transform(new)
    assert placed.shape == (25, 2)
    low, high = fitted.embedding_.min(axis=0), fitted.embedding_.max(axis=0)
    span = high - low
    assert ((placed >= low - span) & (placed <= high + span)).all()
    np.testing.assert_array_equal(fitted.transform(new), placed)


def test_exact_neighbor_index_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(60, 5)).astype(np.float32)
    index = ExactNeighborIndex(data)
    distances, indices = index.neighbors(4)
    full = np.linalg.norm(data[:, None, :] - data[None, :, :], axis=2)
    np.testing.assert_array_equal(indices[:, 0], np.arange(60))
    np.testing.assert_array_equal(indices, np.argsort(full, axis=1, kind="stable")[:, :4])
    np.testing.assert_allclose(distances, np.sort(full, axis=1)[:, :4], rtol=1e-4, atol=1e-5)
    query = rng.normal(size=(3, 5)).astype(np.float32)
    found, dist = index.query(query, 2)
    to_data = np.linalg.norm(query[:, None, :] - data[None, :, :], axis=2)
    np.testing.assert_array_equal(found, np.argsort(to_data, axis=1)[:, :2])
    assert found.dtype == np.int32 and dist.dtype == np.float32
