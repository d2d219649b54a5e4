"""A fast stand-in for UMAP's transform: a random forest that maps features to the embedding.

UMAP places a new customer by searching its nearest fitted customers and then optimising its
position for many epochs, about 0.2 ms per customer. The forest here is fitted, at the same
time as the embedding, on the fitted customers' features and the positions UMAP gave them, and
then places any customer by averaging those positions over the leaves it falls in: a few
microseconds per customer, linear in their number. The embedding's own forest predicts the
target from the other features, so the position is a function of the features; trees do not
care about monotone scaling, so the raw features are used as they are.
"""

from __future__ import annotations

from typing import Self

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import RandomForestRegressor
from sklearn.utils.validation import check_array, check_is_fitted

from pipeline.embed import keep_parameters

SCORING_PATHS: tuple[str, ...] = ("auto", "exact", "fast")
"""How a fitted SegmentationModel places customers: UMAP's transform ("exact"), this forest
("fast"), or "auto": exact when the model was fitted on every customer (a data set small
enough for UMAP's cost), fast when it was fitted on a sample of a larger one."""


class EmbeddingForest(RegressorMixin, BaseEstimator):
    """Random-forest regression from a feature matrix to its (n, n_components) embedding."""

    def __init__(
        self,
        n_estimators: int = 30,
        min_samples_leaf: int = 2,
        random_state: int | None = 42,
        n_jobs: int | None = -1,
    ) -> None:
        keep_parameters(
            self, n_estimators=n_estimators, min_samples_leaf=min_samples_leaf,
            random_state=random_state, n_jobs=n_jobs,
        )

    def fit(self, X: np.ndarray, y: np.ndarray) -> Self:
        X = check_array(X, dtype=np.float64)
        y = check_array(y, dtype=np.float64, ensure_2d=False)
        self.n_features_in_ = X.shape[1]
        self.forest_ = RandomForestRegressor(
            n_estimators=self.n_estimators,
            min_samples_leaf=self.min_samples_leaf,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        ).fit(X, y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The embedding of each row of ``X`` (float64).

        The trees are summed one after the other, in order: the forest's own threaded predict
        adds them in whatever order its threads finish, which changes the last bits.
        """
        check_is_fitted(self, "forest_")
        X = check_array(X, dtype=np.float32)  # the trees' own split precision
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} columns; fitted with {self.n_features_in_}")
        trees = self.forest_.estimators_
        total = trees[0].predict(X, check_input=False).astype(np.float64)
        for tree in trees[1:]:
            total += tree.predict(X, check_input=False)
        return total / len(trees)


def check_scoring(scoring: str) -> str:
    """``scoring`` if it names a scoring path, else a ValueError naming the choices."""
    if scoring not in SCORING_PATHS:
        raise ValueError(f"scoring must be one of {', '.join(SCORING_PATHS)}; got {scoring!r}")
    return scoring
