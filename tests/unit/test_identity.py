"""Cluster identity across refits: stable ids, names and colours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.identity import (
    INSIDERS_COLOR,
    LEGACY_NAME,
    TOP_NAME,
    cluster_identities,
    display_color,
    display_name,
    match_clusters,
)
from pipeline.profiles import cluster_profiles
from pipeline.run import clusters_table
from tests.unit.model_data import population, revenue_bands


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
    assert [(r["name"], r["model_cluster"]) for r in insiders] == [(TOP_NAME, 2)]
    assert INSIDERS_COLOR not in {r["color"] for r in first + second}
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


def test_value_rule_cluster_is_always_top_spenders(features):
    labels = revenue_bands(features)
    first = cluster_identities(features, labels, insiders_label=4)
    # the old Insiders now match cluster 3, but cluster 4 has the highest mean revenue
    mapping = {0: 0, 1: 1, 2: 2, 3: 4, 4: 3}
    second = cluster_identities(features, labels, insiders_label=4, previous=first,
                                mapping=mapping)
    by_model = {r["model_cluster"]: r for r in second}
    assert by_model[4]["name"] == TOP_NAME and by_model[4]["cluster"] == 4
    assert by_model[3]["name"] != TOP_NAME and by_model[3]["cluster"] == 3


def test_new_clusters_get_fresh_ids_and_unused_colours(features):
    first = cluster_identities(features, revenue_bands(features, 3), insiders_label=2)
    labels = revenue_bands(features, 5)
    second = cluster_identities(features, labels, insiders_label=4, previous=first,
                                mapping={0: 0, 4: 2})
    ids = [r["cluster"] for r in second]
    assert len(set(ids)) == 5 and {0, 2} <= set(ids) and max(ids) >= 3
    assert len({r["color"] for r in second}) == 5


def test_empty_components_get_a_record(features):
    labels = revenue_bands(features, 3)
    records = cluster_identities(features, labels, insiders_label=2, n_components=4)
    assert [r["model_cluster"] for r in records] == [0, 1, 2, 3]
    assert records[3]["name"] == "Unplaced" and records[3]["profile"] == {}
    later = cluster_identities(features, labels, insiders_label=2, previous=records,
                               mapping={0: 0, 1: 1, 2: 2}, n_components=5)
    assert sorted(r["cluster"] for r in later) == [0, 1, 2, 4, 5]
    assert len({r["name"] for r in later}) == 5


def test_no_cluster_is_called_insiders(features):
    """Clusters inherited from a version that still named its top cluster "Insiders" (in gold)
    are renamed and recoloured: "Insiders" means membership only."""
    labels = revenue_bands(features)
    old = cluster_identities(features, labels, insiders_label=4)
    for record in old:
        if record["is_insiders"]:
            record.update(name=LEGACY_NAME, color=INSIDERS_COLOR)
    new = cluster_identities(features, labels, insiders_label=4, previous=old,
                             mapping={k: k for k in range(5)})
    assert LEGACY_NAME not in {r["name"] for r in new}
    assert INSIDERS_COLOR not in {r["color"] for r in new}
    assert display_name(LEGACY_NAME) == TOP_NAME and display_name("Lapsed") == "Lapsed"
    assert display_color(INSIDERS_COLOR) != INSIDERS_COLOR


def test_a_run_scored_with_a_legacy_version_stores_no_cluster_called_insiders(features):
    labels = features.assign(cluster=revenue_bands(features), is_insiders=False)
    identities = cluster_identities(features, revenue_bands(features), insiders_label=4)
    for record in identities:
        if record["is_insiders"]:
            record.update(name=LEGACY_NAME, color=INSIDERS_COLOR)
    table = clusters_table(labels, identities)
    assert LEGACY_NAME not in set(table["name"]) and INSIDERS_COLOR not in set(table["color"])
