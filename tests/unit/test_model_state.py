"""A versioned model: its artifact and the state directory kept between command-line calls."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.artifact import HEADER_BYTES, MAGIC
from pipeline.errors import PipelineInputError
from pipeline.identity import INSIDERS_COLOR
from pipeline.membership import assign_membership
from pipeline.model_state import ModelState, load_state_dir, save_state_dir
from tests.unit.model_data import THRESHOLDS, population


@pytest.fixture
def features() -> pd.DataFrame:
    return population(800, seed=21)


def make_state(version: int = 3) -> ModelState:
    return ModelState(
        version=version,
        fitted_as_of=dt.date(2011, 11, 30),
        parameters={"n_clusters": 5, "random_state": 42},
        thresholds=THRESHOLDS,
        clusters=[{"cluster": 0, "model_cluster": 1, "name": "Insiders",
                   "color": INSIDERS_COLOR, "is_insiders": True, "profile": {}}],
        metrics={"silhouette": 0.5},
        model={"stand-in": [1, 2, 3]},
    )


KEY = b"k" * 32


class Exploit:
    """Unpickling this runs code: it writes ``marker`` (the proof it ran)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


def _signed(body: bytes, key: bytes = KEY) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest() + body


def test_state_round_trip():
    state = make_state()
    again = ModelState.from_bytes(state.to_bytes(KEY), KEY)
    assert again == state
    assert again.stable_ids(np.array([1, 1])).tolist() == [0, 0]


def test_the_artifact_built_in_place_is_the_signed_pickle():
    state = make_state()
    artifact = state.to_buffer(KEY)
    body = bytes(artifact[32:])
    assert bytes(artifact) == _signed(body)  # the signature of the payload, then the payload
    assert body.startswith(MAGIC)  # format 2: the payload, then the model's exact parts
    first = int.from_bytes(body[len(MAGIC):HEADER_BYTES], "big")
    assert pickle.loads(body[HEADER_BYTES:HEADER_BYTES + first])["format"] == 2
    assert ModelState.from_bytes(artifact, KEY) == state


def test_artifact_with_another_format_is_refused():
    with pytest.raises(PipelineInputError, match="format"):
        ModelState.from_bytes(_signed(pickle.dumps({"format": 99})), KEY)
    with pytest.raises(PipelineInputError, match="not a model artifact"):
        ModelState.from_bytes(_signed(b"not a pickle"), KEY)


@pytest.mark.parametrize("forge", [
    lambda body: body,  # no signature at all
    lambda body: _signed(body, b"x" * 32),  # signed with another key
    lambda body: _signed(body).replace(b"pwned", b"PWNED"),  # altered after signing
])
def test_a_malicious_artifact_is_refused_before_it_is_unpickled(tmp_path, forge):
    marker = tmp_path / "marker"
    with pytest.raises(PipelineInputError, match="refused"):
        ModelState.from_bytes(forge(pickle.dumps(Exploit(marker))), KEY)
    assert not marker.exists()


def test_a_state_dir_with_a_planted_model_file_is_refused(tmp_path, features):
    labels = features.assign(cluster=0, is_insiders=assign_membership(features, THRESHOLDS))
    save_state_dir(tmp_path, make_state(), labels, key=KEY)
    marker = tmp_path / "marker"
    (tmp_path / "model-v0003.bin").write_bytes(pickle.dumps(Exploit(marker)))
    (tmp_path / "state.json").write_text(json.dumps({"model_file": "model-v0003.bin"}))
    with pytest.raises(PipelineInputError, match="refused"):
        load_state_dir(tmp_path, key=KEY)
    assert not marker.exists()


def test_state_dir_round_trip(tmp_path, features):
    assert load_state_dir(tmp_path / "empty", key=KEY) == (None, None)
    labels = features.assign(cluster=0, is_insiders=assign_membership(features, THRESHOLDS))
    events = pd.DataFrame([{"customer_id": 1, "kind": "entered", "cause": "feature",
                            "reason": "r", "details": {"feature": "gross_revenue"}}])
    save_state_dir(tmp_path, make_state(), labels, events, key=KEY)
    state, loaded = load_state_dir(tmp_path, key=KEY)
    assert state == make_state()
    assert loaded["is_insiders"].equals(labels["is_insiders"])
    pd.testing.assert_frame_equal(loaded[labels.columns], labels, check_dtype=False)
    assert (tmp_path / "model-v0003.bin").exists() and (tmp_path / "events.csv").exists()
