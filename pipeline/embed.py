"""Tree-based embedding, as in the original analysis.

Min-max scale the features, fit a random forest that predicts the (scaled) target feature from
the others, take each customer's leaf index in every tree as a description of the customer, and
reduce those leaf vectors to two dimensions with UMAP. Customers that fall in the same leaves
(similar with respect to revenue) end up close together.
"""

from __future__ import annotations

import warnings
from typing import Self

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import RandomForestRegressor
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils.validation import check_array, check_is_fitted

from pipeline.jit_cache import cache_umap_compilation

TRANSFORM_BATCH = 10_000
"""Customers embedded per UMAP transform call: UMAP gives batches up to 10,000 its 100-epoch
optimisation (larger ones 30), and each batch's neighbour graph stays small."""


def keep_parameters(estimator: BaseEstimator, **parameters: object) -> None:
    """Store each ``__init__`` parameter unchanged under its own name, as scikit-learn expects
    (``get_params`` reads them back; no validation or derived values in ``__init__``)."""
    for name, value in parameters.items():
        setattr(estimator, name, value)


class LeafEmbedding(TransformerMixin, BaseEstimator):
    """Min-max scaling -> random-forest leaf indices -> UMAP (2 dimensions).

    ``X`` is a numeric matrix whose column ``target`` (default 0, gross revenue) is what the
    forest learns to predict from the other columns.
    """

    def __init__(
        self,
        n_estimators: int = 100,
        umap_neighbors: int = 15,
        n_components: int = 2,
        target: int = 0,
        random_state: int | None = 42,
        n_jobs: int | None = -1,
    ) -> None:
        keep_parameters(
            self, n_estimators=n_estimators, umap_neighbors=umap_neighbors,
            n_components=n_components, target=target, random_state=random_state, n_jobs=n_jobs,
        )

    def fit(self, X: np.ndarray, y: None = None) -> Self:
        X = check_array(X, dtype=np.float64)
        self.n_features_in_ = X.shape[1]
        self.scaler_ = MinMaxScaler().fit(X)
        scaled = self.scaler_.transform(X)
        self.forest_ = RandomForestRegressor(
            n_estimators=self.n_estimators, random_state=self.random_state, n_jobs=self.n_jobs
        ).fit(self._predictors(scaled), scaled[:, self.target])
        leaves = self._leaves(scaled)
        with warnings.catch_warnings():
            # UMAP warns that a search index which is not NNDescent cannot transform; ours can.
            warnings.filterwarnings("ignore", message="precomputed_knn", category=UserWarning)
            self.umap_ = self._make_umap(leaves).fit(leaves)
        self.embedding_ = np.asarray(self.umap_.embedding_, dtype=np.float64)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Embed customers that may not have been seen in ``fit``."""
        check_is_fitted(self, "umap_")
        X = check_array(X, dtype=np.float64)
        # New customers may lie outside the fitted range; the forest handles that (clipping
        # would change nothing for the splits), so scale without clipping.
        leaves = self._leaves(self.scaler_.transform(X))
        cache_umap_compilation()
        batches = [
            self.umap_.transform(leaves[start : start + TRANSFORM_BATCH])
            for start in range(0, len(leaves), TRANSFORM_BATCH)
        ]
        return np.asarray(np.vstack(batches), dtype=np.float64)

    def leaves(self, X: np.ndarray) -> np.ndarray:
        """The forest's leaf index per tree for each row (the UMAP input)."""
        check_is_fitted(self, "forest_")
        return self._leaves(self.scaler_.transform(check_array(X, dtype=np.float64)))

    def _predictors(self, scaled: np.ndarray) -> np.ndarray:
        return np.delete(scaled, self.target, axis=1)

    def _leaves(self, scaled: np.ndarray) -> np.ndarray:
        return self.forest_.apply(self._predictors(scaled)).astype(np.float32)

    def _make_umap(self, leaves: np.ndarray):
        import umap  # slow to import (numba); only needed when fitting

        cache_umap_compilation()
        index = ExactNeighborIndex(leaves, n_jobs=self.n_jobs)
        distances, indices = index.neighbors(self.umap_neighbors)
        # With a random_state UMAP runs single-threaded anyway; saying so avoids its warning.
        n_jobs = 1 if self.random_state is not None else -1
        return umap.UMAP(
            n_neighbors=self.umap_neighbors,
            n_components=self.n_components,
            random_state=self.random_state,
            n_jobs=n_jobs,
            low_memory=True,
            precomputed_knn=(indices, distances, index),
        )


class ExactNeighborIndex:
    """Exact euclidean nearest neighbours, in the shape UMAP expects of a search index.

    UMAP would otherwise build an approximate NNDescent index, whose numba compilation costs
    far more than an exact (BLAS) search on a few thousand to a hundred thousand customers. The
    neighbours are exact, so the embedding follows the original method at least as closely.
    """

    _angular_trees = False  # read by UMAP.transform

    def __init__(self, data: np.ndarray, *, n_jobs: int | None = None) -> None:
        self._search = NearestNeighbors(algorithm="brute", n_jobs=n_jobs).fit(data)

    def neighbors(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Distances and indices of each training row's k nearest rows (itself first)."""
        distances, indices = self._search.kneighbors(n_neighbors=k - 1)
        own = np.arange(len(indices))[:, None]
        indices = np.hstack([own, indices]).astype(np.int32)
        distances = np.hstack([np.zeros_like(own, dtype=distances.dtype), distances])
        return distances.astype(np.float32), indices

    def query(self, X: np.ndarray, k: int, epsilon: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
        """Indices and distances of the k nearest training rows of each row of ``X``."""
        distances, indices = self._search.kneighbors(X, n_neighbors=k)
        return indices.astype(np.int32), distances.astype(np.float32)
