"""Model versions: cluster identity across refits, threshold smoothing, artifacts and state dirs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import PipelineInputError
from pipeline.membership import assign_membership, levels, make_thresholds
from pipeline.versioning import (
    INSIDERS_COLOR,
    INSIDERS_NAME,
    ModelState,
    SmoothingPolicy,
    cluster_identities,
    cluster_profiles,
    load_state_dir,
    match_clusters,
    next_thresholds,
    save_state_dir,
)
from tests.unit.test_membership import population

THRESHOLDS = make_thresholds(
    {"gross_revenue": 2000.0, "invoice_quantity": 4, "recency_days": 60},
    {"gross_revenue": 1400.0, "invoice_quantity": 2, "recency_days": 120},
)


def revenue_bands(features: pd.DataFrame, k: int = 5) -> np.ndarray:
    """Cluster labels by revenue quantile band (k-1 is the top band)."""
    ranks = features["gross_revenue"].rank(method="first", pct=True).to_numpy()
    return np.minimum((ranks * k).astype(int), k - 1)


@pytest.fixture
def features() -> pd.DataFrame:
    return population(800, seed=21)


def test_names_persist_under_label_permutation(features):
    labels = revenue_bands(features)
    first = cluster_identities(features, labels, insiders_label=4)
    permutation = np.array([3, 0, 4, 1, 2])
    relabelled = permutation[labels]
    mapping = match_clusters(pd.Series(relabelled, index=features.index),
                             pd.Series(labels, index=features.index))
    second = cluster_identities(features, relabelled, insiders_label=2, previous=first,
                                mapping=mapping)
    by_model = {r["model_cluster"]: r for r in first}
    for record in second:
        old = by_model[int(np.flatnonzero(permutation == record["model_cluster"])[0])]
        assert (record["cluster"], record["name"], record["color"]) == (
            old["cluster"], old["name"], old["color"])
    insiders = [r for r in second if r["is_insiders"]]
    assert [(r["name"], r["color"], r["model_cluster"]) for r in insiders] == [
        (INSIDERS_NAME, INSIDERS_COLOR, 2)]
    assert len({r["name"] for r in second}) == len(second)


def test_centroid_matching_without_shared_customers(features):
    labels = revenue_bands(features)
    first = cluster_identities(features, labels, insiders_label=4)
    permutation = np.array([2, 4, 0, 3, 1])
    relabelled = permutation[labels]
    old_profiles = pd.DataFrame([r["profile"] for r in first],
                                index=[r["cluster"] for r in first])
    mapping = match_clusters(pd.Series(relabelled, index=features.index), None,
                             cluster_profiles(features, relabelled), old_profiles)
    assert mapping == {int(permutation[r["model_cluster"]]): r["cluster"] for r in first}


def test_value_rule_cluster_is_always_insiders(features):
    labels = revenue_bands(features)
    first = cluster_identities(features, labels, insiders_label=4)
    # the old Insiders now match cluster 3, but cluster 4 has the highest mean revenue
    mapping = {0: 0, 1: 1, 2: 2, 3: 4, 4: 3}
    second = cluster_identities(features, labels, insiders_label=4, previous=first,
                                mapping=mapping)
    by_model = {r["model_cluster"]: r for r in second}
    assert by_model[4]["name"] == INSIDERS_NAME and by_model[4]["cluster"] == 4
    assert by_model[3]["name"] != INSIDERS_NAME and by_model[3]["cluster"] == 3


def test_new_clusters_get_fresh_ids_and_unused_colours(features):
    first = cluster_identities(features, revenue_bands(features, 3), insiders_label=2)
    labels = revenue_bands(features, 5)
    second = cluster_identities(features, labels, insiders_label=4, previous=first,
                                mapping={0: 0, 4: 2})
    ids = [r["cluster"] for r in second]
    assert len(set(ids)) == 5 and {0, 2} <= set(ids) and max(ids) >= 3
    assert len({r["color"] for r in second}) == 5


def test_threshold_steps_are_bounded(features):
    policy = SmoothingPolicy(dead_band=0.1, max_step=0.05, max_free_step=0.25)
    top = features["gross_revenue"] >= features["gross_revenue"].quantile(0.9)
    new = next_thresholds(features, top, THRESHOLDS, None, smoothing=policy)
    for side in ("entry", "exit"):
        old, now = levels(THRESHOLDS, side), levels(new, side)
        for feature, value in now.items():
            assert abs(value - old[feature]) <= 0.25 * old[feature] + 1e-9, (side, feature)


def test_quiet_thresholds_change_no_membership(features):
    # a cluster far above the current levels: entry levels rise, nobody is moved
    top = revenue_bands(features, 10) == 9
    derived = next_thresholds(features, top, None)
    entry, exit_ = levels(derived, "entry"), levels(derived, "exit")
    first = make_thresholds({**entry, "gross_revenue": entry["gross_revenue"] * 0.8}, exit_)
    member = assign_membership(features, first)
    new = next_thresholds(features, top, first, member)
    assert levels(new, "entry")["gross_revenue"] > levels(first, "entry")["gross_revenue"]
    assert assign_membership(features, new, member).equals(member)


def test_dead_band_keeps_thresholds(features):
    top = features["gross_revenue"] >= features["gross_revenue"].quantile(0.9)
    first = next_thresholds(features, top, None)
    member = assign_membership(features, first)
    again = next_thresholds(features, top, first, member)
    assert again == first


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


def test_state_round_trip():
    state = make_state()
    again = ModelState.from_bytes(state.to_bytes())
    assert again == state
    assert again.stable_ids(np.array([1, 1])).tolist() == [0, 0]


def test_artifact_with_another_format_is_refused():
    import pickle

    with pytest.raises(PipelineInputError, match="format"):
        ModelState.from_bytes(pickle.dumps({"format": 99}))
    with pytest.raises(PipelineInputError, match="not a model artifact"):
        ModelState.from_bytes(b"not a pickle")


def test_state_dir_round_trip(tmp_path, features):
    assert load_state_dir(tmp_path / "empty") == (None, None)
    labels = features.assign(cluster=0, is_insiders=assign_membership(features, THRESHOLDS))
    events = pd.DataFrame([{"customer_id": 1, "kind": "entered", "cause": "feature",
                            "reason": "r", "details": {"feature": "gross_revenue"}}])
    save_state_dir(tmp_path, make_state(), labels, events)
    state, loaded = load_state_dir(tmp_path)
    assert state == make_state()
    assert loaded["is_insiders"].equals(labels["is_insiders"])
    pd.testing.assert_frame_equal(loaded[labels.columns], labels, check_dtype=False)
    assert (tmp_path / "model-v0003.bin").exists() and (tmp_path / "events.csv").exists()


def test_empty_components_get_a_record(features):
    labels = revenue_bands(features, 3)
    records = cluster_identities(features, labels, insiders_label=2, n_components=4)
    assert [r["model_cluster"] for r in records] == [0, 1, 2, 3]
    assert records[3]["name"] == "Unplaced" and records[3]["profile"] == {}
    later = cluster_identities(features, labels, insiders_label=2, previous=records,
                               mapping={0: 0, 1: 1, 2: 2}, n_components=5)
    assert sorted(r["cluster"] for r in later) == [0, 1, 2, 4, 5]
    assert len({r["name"] for r in later}) == 5
