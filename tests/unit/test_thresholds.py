"""Thresholds: derived from the Insiders cluster, and moved between versions in bounded steps."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.conditions import levels, make_thresholds
from pipeline.membership import assign_membership
from pipeline.thresholds import SmoothingPolicy, derive_thresholds, next_thresholds
from tests.unit.model_data import THRESHOLDS, population, revenue_bands


@pytest.fixture
def features() -> pd.DataFrame:
    return population(800, seed=21)


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


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_derived_thresholds_keep_the_groups_character(seed):
    features = population(3000, seed=seed)
    top = features["gross_revenue"] >= features["gross_revenue"].quantile(0.97)
    thresholds = derive_thresholds(features, top)
    member = assign_membership(features, thresholds)
    share = member.mean()
    revenue = features.loc[member, "gross_revenue"].sum() / features["gross_revenue"].sum()
    assert 0.05 <= share <= 0.15 and revenue >= 0.40
    entry, exit_ = thresholds["entry"], thresholds["exit"]
    assert exit_["gross_revenue"]["value"] < entry["gross_revenue"]["value"]
    assert exit_["recency_days"]["value"] > entry["recency_days"]["value"]
    assert exit_["invoice_quantity"]["value"] < entry["invoice_quantity"]["value"]
