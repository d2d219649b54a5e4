"""A worker process's copy of a model version: loaded from a buffer without copying it, and,
for a version that scores with its fast scorer, without what only the exact transform needs,
scoring exactly as the whole model does."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pipeline.model_state import ModelState
from pipeline.segment import SegmentationModel
from tests.unit.model_data import make_features
from worker.partition_run import EXACT_ONLY, _for_scoring

KEY = b"k" * 32


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return make_features(900, seed=5)


def _state(model: SegmentationModel) -> ModelState:
    return ModelState(version=1, fitted_as_of=dt.date(2011, 12, 9), parameters={},
                      thresholds={}, clusters=[], metrics={}, model=model)


def _loaded(model: SegmentationModel) -> ModelState:
    """Through the signed artifact, from a bytearray as the worker reads it in pieces."""
    return ModelState.from_bytes(bytearray(_state(model).to_bytes(KEY)), KEY)


def test_a_fast_scoring_version_drops_the_exact_transform_and_scores_the_same(features) -> None:
    model = SegmentationModel(n_estimators=20, random_state=3, max_fit_customers=500).fit(features)
    new = make_features(300, seed=9)
    trimmed = _for_scoring(_loaded(model)).model
    assert trimmed.fast_scoring_
    assert not any(hasattr(trimmed, name) for name in EXACT_ONLY)
    np.testing.assert_array_equal(trimmed.transform(new), model.transform(new))
    np.testing.assert_array_equal(trimmed.predict(new), model.predict(new))


def test_an_exact_scoring_version_is_kept_whole(features) -> None:
    small = features.iloc[:300]
    model = SegmentationModel(n_estimators=20, random_state=3).fit(small)
    kept = _for_scoring(_loaded(model)).model
    assert not kept.fast_scoring_
    assert all(hasattr(kept, name) for name in EXACT_ONLY)
    new = make_features(40, seed=2)
    np.testing.assert_array_equal(kept.transform(new), model.transform(new))


def test_an_altered_buffer_is_refused() -> None:
    artifact = bytearray(_state(None).to_bytes(KEY))
    artifact[-1] ^= 1
    with pytest.raises(Exception, match="signature"):
        ModelState.from_bytes(artifact, KEY)
