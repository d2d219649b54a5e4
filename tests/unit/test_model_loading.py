"""A worker process's copy of a model version: loaded from a buffer without copying it, and,
for a version that scores with its fast scorer, without what only the exact transform needs,
scoring exactly as the whole model does; read in pieces, that part is never kept. Artifacts of
the format before (one pickle of everything) still load."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import pickle
from dataclasses import fields

import numpy as np
import pandas as pd
import pytest

from pipeline.artifact import ArtifactReader
from pipeline.model_state import ModelState
from pipeline.segment import SegmentationModel
from tests.unit.model_data import make_features
from worker.partition_run import _for_scoring

EXACT_ONLY = SegmentationModel.EXACT_TRANSFORM_PARTS

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


@pytest.fixture(scope="module")
def fast_model(features) -> SegmentationModel:
    return SegmentationModel(n_estimators=20, random_state=3, max_fit_customers=500).fit(features)


def _pieces(data: bytes, size: int) -> list[bytes]:
    return [data[start:start + size] for start in range(0, len(data), size)]


@pytest.mark.parametrize("piece_bytes", [7, 4096, 1 << 30])
def test_read_in_pieces_without_the_exact_parts_keeps_a_fraction_and_scores_the_same(
    fast_model, piece_bytes
) -> None:
    artifact = _state(fast_model).to_bytes(KEY)
    reader = ArtifactReader(KEY, exact=False)
    for piece in _pieces(artifact, piece_bytes):
        reader.feed(piece)
    exact_parts = pickle.dumps({name: getattr(fast_model, name) for name in EXACT_ONLY},
                               protocol=pickle.HIGHEST_PROTOCOL)
    assert len(reader.kept) == len(artifact) - len(exact_parts)  # none of them was kept
    lighter = ModelState.from_pieces(_pieces(artifact, piece_bytes), KEY, exact=False).model
    assert not any(hasattr(lighter, name) for name in EXACT_ONLY)
    new = make_features(300, seed=9)
    np.testing.assert_array_equal(lighter.predict(new), fast_model.predict(new))
    whole = ModelState.from_pieces(_pieces(artifact, piece_bytes), KEY).model
    assert all(hasattr(whole, name) for name in EXACT_ONLY)
    np.testing.assert_array_equal(whole.embedding_model_.transform(new.to_numpy()),
                                  fast_model.embedding_model_.transform(new.to_numpy()))


def test_the_exact_parts_are_still_signed_when_not_kept(fast_model) -> None:
    artifact = bytearray(_state(fast_model).to_bytes(KEY))
    artifact[-10] ^= 1  # in the exact parts, which a fast-scoring reader does not keep
    with pytest.raises(Exception, match="signature"):
        ModelState.from_pieces(_pieces(bytes(artifact), 4096), KEY, exact=False)


def test_an_artifact_of_the_format_before_loads_whole(fast_model) -> None:
    state = _state(fast_model)
    payload = {f.name: getattr(state, f.name) for f in fields(state)} | {"format": 1}
    body = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    artifact = hmac.new(KEY, body, hashlib.sha256).digest() + body
    for loaded in (ModelState.from_bytes(artifact, KEY, exact=False),
                   ModelState.from_pieces(_pieces(artifact, 4096), KEY, exact=False)):
        assert all(hasattr(loaded.model, name) for name in EXACT_ONLY)
        trimmed = _for_scoring(loaded).model
        new = make_features(50, seed=4)
        np.testing.assert_array_equal(trimmed.predict(new), fast_model.predict(new))
