"""The fast scorer: a forest learnt from UMAP's positions, checked against UMAP's transform."""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd
import pytest

from pipeline.fast_scoring import EmbeddingForest
from pipeline.model_state import ModelState
from pipeline.segment import SegmentationModel
from tests.unit.model_data import make_features

AGREEMENT = 0.9
"""Least share of held-out customers the fast and the exact path put in the same cluster on
this small synthetic set (0.93 measured; 0.99 on the real data, benchmarks/scoring.py)."""


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return make_features(1200, seed=21)


@pytest.fixture(scope="module")
def sampled(features: pd.DataFrame) -> SegmentationModel:
    return SegmentationModel(n_estimators=25, random_state=3, max_fit_customers=600).fit(features)


def test_init_only_stores_parameters() -> None:
    scorer = EmbeddingForest(n_estimators=4, random_state=1)
    assert scorer.get_params()["n_estimators"] == 4
    assert not [name for name in vars(scorer) if name.endswith("_")]


def test_same_seed_same_predictions(features: pd.DataFrame) -> None:
    X = features.to_numpy(dtype=float)
    y = np.column_stack([X[:, 0] ** 0.5, np.log1p(X[:, 1])])
    first = EmbeddingForest(n_estimators=10, random_state=7).fit(X, y).predict(X)
    again = EmbeddingForest(n_estimators=10, random_state=7, n_jobs=1).fit(X, y).predict(X)
    np.testing.assert_array_equal(first, again)
    assert first.shape == (len(X), 2) and first.dtype == np.float64
    with pytest.raises(ValueError, match="columns"):
        EmbeddingForest(n_estimators=2).fit(X, y).predict(X[:, :3])


def test_auto_scores_a_sampled_model_fast(sampled: SegmentationModel, features) -> None:
    assert sampled.fast_scoring_
    rest = features.sort_index()[~sampled.fit_sample_]
    np.testing.assert_array_equal(sampled.transform(rest),
                                  sampled.embedding_[~sampled.fit_sample_])  # fmt: skip
    whole = SegmentationModel(n_estimators=25, random_state=3).fit(features.iloc[:300])
    assert not whole.fast_scoring_


def test_fast_agrees_with_the_exact_transform(sampled: SegmentationModel, features) -> None:
    rest = features.sort_index()[~sampled.fit_sample_]
    fast = sampled.predict(rest)
    exact = sampled.set_params(scoring="exact").predict(rest)
    sampled.set_params(scoring="auto")
    assert (fast == exact).mean() >= AGREEMENT


def test_exact_scoring_at_fit_uses_umap_for_the_rest(sampled: SegmentationModel, features) -> None:
    exact = SegmentationModel(n_estimators=25, random_state=3, max_fit_customers=600,
                              scoring="exact").fit(features)  # fmt: skip
    assert not exact.fast_scoring_
    np.testing.assert_array_equal(exact.embedding_[exact.fit_sample_],
                                  sampled.embedding_[sampled.fit_sample_])  # fmt: skip
    rest = features.sort_index()[~exact.fit_sample_].to_numpy()
    np.testing.assert_array_equal(exact.embedding_[~exact.fit_sample_],
                                  exact.embedding_model_.transform(rest))  # fmt: skip


def test_the_signed_artifact_carries_the_fast_scorer(sampled: SegmentationModel) -> None:
    state = ModelState(version=1, fitted_as_of=dt.date(2011, 12, 9), parameters={},
                       thresholds={}, clusters=[], metrics={}, model=sampled)  # fmt: skip
    key = b"k" * 32
    restored = ModelState.from_bytes(state.to_bytes(key), key).model
    new = make_features(50, seed=8)
    assert restored.fast_scoring_
    np.testing.assert_array_equal(restored.transform(new), sampled.transform(new))


def test_unknown_scoring_is_refused(features: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="scoring"):
        SegmentationModel(scoring="quick").fit(features)


def test_fast_scoring_time_is_linear(sampled: SegmentationModel) -> None:
    small, large = make_features(5_000, seed=4), make_features(40_000, seed=5)
    sampled.transform(small)  # warm up

    def seconds(frame: pd.DataFrame) -> float:
        best = np.inf
        for _ in range(3):
            started = time.perf_counter()
            sampled.transform(frame)
            best = min(best, time.perf_counter() - started)
        return best

    # 8 times the customers: allow up to twice linear for a loaded machine, far below quadratic
    assert seconds(large) < 16 * seconds(small)
    assert seconds(large) / len(large) < 1e-4  # well under UMAP's 0.2 ms a customer
