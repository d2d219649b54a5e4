"""Insiders membership: hysteresis, independence from other customers, reasons, determinism."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from pipeline.conditions import make_thresholds
from pipeline.membership import assign_membership, membership_events
from pipeline.reasons import CAUSE_WORDS, WORDING_VERSION, cause_words, sentence
from tests.unit.model_data import THRESHOLDS, customers, population


def labelled(features: pd.DataFrame, member: pd.Series) -> pd.DataFrame:
    return features.assign(is_insiders=member.reindex(features.index).fillna(False))


def test_entry_needs_every_level_and_exit_any():
    features = customers({
        1: (2500, 5, 10),   # meets all entry levels
        2: (2500, 3, 10),   # too few invoices
        3: (2500, 5, 90),   # not recent enough
    })
    assert assign_membership(features, THRESHOLDS).tolist() == [True, False, False]


def test_hysteresis_band_prevents_flipping():
    # a member whose recency swings between 40 and 100 days stays; a non-member there stays out
    previous = pd.Series({1: True, 2: False})
    for recency in (40, 100, 40, 100, 119):
        features = customers({1: (2500, 5, recency), 2: (1900, 5, recency)})
        now = assign_membership(features, THRESHOLDS, previous)
        assert now.tolist() == [True, False]
        previous = now
    gone = assign_membership(customers({1: (2500, 5, 121)}), THRESHOLDS, pd.Series({1: True}))
    assert not gone.iloc[0]


def test_membership_depends_on_nobody_else():
    features = population(600, seed=1)
    previous = pd.Series(np.random.default_rng(2).random(600) < 0.1, index=features.index)
    full = assign_membership(features, THRESHOLDS, previous)
    kept = features.sample(frac=0.7, random_state=4)
    others = population(300, seed=5).set_axis(pd.Index(range(50_000, 50_300), name="customer_id"))
    mixed = pd.concat([kept, others])
    partial = assign_membership(mixed, THRESHOLDS, previous)
    assert partial.loc[kept.index].equals(full.loc[kept.index])


def test_same_membership_in_any_row_order():
    features = population(500, seed=7)
    previous = pd.Series(np.random.default_rng(8).random(500) < 0.1, index=features.index)
    shuffled = features.sample(frac=1.0, random_state=9)
    a = assign_membership(features, THRESHOLDS, previous)
    b = assign_membership(shuffled, THRESHOLDS, previous.sample(frac=1.0, random_state=10))
    assert a.equals(b.sort_index())
    before = labelled(features, previous)
    events_a = membership_events(features, a, before, THRESHOLDS, old_thresholds=THRESHOLDS,
                                 version=1)
    events_b = membership_events(shuffled, b, before.sample(frac=1.0, random_state=11),
                                 THRESHOLDS, old_thresholds=THRESHOLDS, version=1)
    key = ["customer_id"]
    pd.testing.assert_frame_equal(events_a.sort_values(key).reset_index(drop=True),
                                  events_b.sort_values(key).reset_index(drop=True))


def test_reasons_name_feature_threshold_and_values():
    before = customers({1: (1800, 5, 10), 2: (3000, 6, 100), 3: (2100, 5, 30)})
    after = customers({1: (2450.5, 6, 3), 2: (3000, 6, 130), 3: (2100, 5, 61), 4: (5000, 8, 2)})
    previous = labelled(before, pd.Series({1: False, 2: True, 3: True}))
    now = assign_membership(after, THRESHOLDS, previous["is_insiders"])
    events = membership_events(after, now, previous, THRESHOLDS, old_thresholds=THRESHOLDS,
                               version=3).set_index("customer_id")
    assert set(events.index) == {1, 2, 4}  # 3 is in the band: still a member
    entered = events.loc[1]
    assert (entered.kind, entered.cause) == ("entered", "feature")
    assert entered.reason == (
        "Entered: spent £2,450.50 in total, above the entry level of £2,000.00 "
        "(was £1,800.00 at the previous run)."
    )
    assert entered.details == {
        "feature": "gross_revenue", "op": ">=", "threshold": 2000, "before": 1800,
        "after": 2450.5, "model_version": 3, "conditions": entered.details["conditions"],
        "wording": {"version": WORDING_VERSION, "currency": "£"},
    }
    left = events.loc[2]
    assert (left.kind, left.cause) == ("exited", "feature")
    assert left.reason == ("Left: last bought 130 days ago, longer ago than the exit level of "
                           "120 days (was 100 days at the previous run).")
    new = events.loc[4]
    assert (new.kind, new.cause) == ("entered", "new_customer")
    assert new.reason.startswith("Entered as a new customer: spent £5,000.00 in total, above "
                                 "the entry level of £2,000.00; ")
    assert new.details["before"] is None


def test_threshold_change_is_a_model_update():
    features = customers({1: (1950, 5, 70), 2: (2300, 5, 20)})
    previous = labelled(features, pd.Series({1: False, 2: True}))
    looser = make_thresholds(
        {"gross_revenue": 1900.0, "invoice_quantity": 4, "recency_days": 60},
        {"gross_revenue": 2400.0, "invoice_quantity": 2, "recency_days": 120},
    )
    now = assign_membership(features, looser, previous["is_insiders"])
    assert now.tolist() == [False, False]  # 1 is not recent enough; 2 falls under the exit level
    events = membership_events(features, now, previous, looser, old_thresholds=THRESHOLDS,
                               version=5)
    row = events.set_index("customer_id").loc[2]
    assert (row.kind, row.cause) == ("exited", "model_update")
    assert row.reason == ("Left after model version 5 raised the exit level for total spend "
                          "from £1,400.00 to £2,400.00; the customer spent £2,300.00 in total.")
    assert row.details["conditions"][0]["old_threshold"] == 1400


def test_no_events_without_a_previous_run():
    features = population(100, seed=12)
    now = assign_membership(features, THRESHOLDS)
    events = membership_events(features, now, None, THRESHOLDS, old_thresholds=None, version=1)
    assert events.empty and list(events.columns) == [
        "customer_id", "kind", "cause", "reason", "details"]


def test_reasons_read_as_sentences_in_the_currency():
    """Every cause gives a sentence with words for figures and causes: no column names, no
    operators; the currency is a parameter."""
    before = customers({1: (1800, 5, 10), 2: (3000, 6, 100)})
    after = customers({1: (2450.5, 6, 3), 2: (3000, 6, 130), 4: (5000, 8, 2)})
    previous = labelled(before, pd.Series({1: False, 2: True}))
    now = assign_membership(after, THRESHOLDS, previous["is_insiders"])
    events = membership_events(after, now, previous, THRESHOLDS, old_thresholds=THRESHOLDS,
                               version=3, currency="€")
    for row in events.itertuples():
        assert (row.reason.endswith(".") and "€" in row.reason) or "days" in row.reason
        assert not re.search(r"[a-z]+_[a-z]+|[<>]=?", row.reason), row.reason
        assert sentence(row.kind, row.cause, row.details, "€") == row.reason
    words = {cause_words(r.cause, r.kind, r.details) for r in events.itertuples()}
    assert words == {"purchase activity", "inactivity", "new customer"}
    assert words <= set(CAUSE_WORDS)
    assert cause_words("model_update", "entered") == "model update"
