"""Insiders at risk and customers about to qualify: exact leave dates, plain reasons, and a
replay showing that a customer listed at risk who buys nothing leaves on the stated date."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest

from pipeline.at_risk import (
    AT_RISK_COLUMNS,
    QUALIFY_COLUMNS,
    about_to_qualify,
    days_until_exit,
    insiders_at_risk,
)
from pipeline.conditions import make_thresholds, meets_entry
from pipeline.features import customer_features
from pipeline.forecast import ForwardModel
from pipeline.membership import assign_membership
from tests.unit.forecast_data import AS_OF, synthetic_clean

THRESHOLDS = make_thresholds(
    {"gross_revenue": 1500.0, "invoice_quantity": 4, "recency_days": 60},
    {"gross_revenue": 1000.0, "invoice_quantity": 3, "recency_days": 75},
)
JARGON = re.compile(r"[<>=_]|recency|invoice|gross|revenue")


@pytest.fixture(scope="module")
def cleaned():
    return synthetic_clean()


@pytest.fixture(scope="module")
def state(cleaned):
    rows = cleaned.transactions
    features = customer_features(rows, AS_OF)
    membership = assign_membership(features, THRESHOLDS)
    model = ForwardModel(guest_id_range=cleaned.guest_id_range).fit(rows, AS_OF)
    return rows, features, membership, model


def _features(recency: list[int]) -> pd.DataFrame:
    n = len(recency)
    return pd.DataFrame({"gross_revenue": [5000.0] * n, "invoice_quantity": [10] * n,
                         "recency_days": recency}, index=pd.Index(range(1, n + 1),
                                                                  name="customer_id"))


def test_days_until_exit_for_each_operator():
    features = _features([100, 120, 121, 10])
    more = days_until_exit(features, {"recency_days": {"op": ">", "value": 120}})
    assert more.tolist() == [21.0, 1.0, 0.0, 111.0]
    at_least = days_until_exit(features, {"recency_days": {"op": ">=", "value": 120}})
    assert at_least.tolist() == [20.0, 0.0, 0.0, 110.0]
    revenue = days_until_exit(features, {"gross_revenue": {"op": "<", "value": 1000.0}})
    assert revenue.isna().all()  # buying nothing never lowers what was spent


def test_at_risk_list_columns_order_and_plain_reasons(state):
    _, features, membership, model = state
    listed = insiders_at_risk(features, membership, THRESHOLDS, model.predict(90), AS_OF,
                              within_days=30, min_probability_active=None)
    assert list(listed.columns) == list(AT_RISK_COLUMNS)
    assert len(listed) > 0
    assert listed["expected_value"].is_monotonic_decreasing
    assert membership.loc[listed["customer_id"]].all()
    assert (listed["days_left"] <= 30).all()
    for row in listed.itertuples():
        assert row.leave_date == AS_OF + dt.timedelta(days=row.days_left)
        assert row.leave_date.isoformat() in row.reason
        assert not JARGON.search(row.reason), row.reason
    # every Insider leaving within 30 days is listed
    recency = features.loc[membership, "recency_days"]
    assert set(listed["customer_id"]) == set(recency.index[recency + 30 > 75])


def test_low_probability_of_being_active_lists_an_insider(state):
    _, features, membership, model = state
    predictions = model.predict(90)
    insider = features.index[membership][0]
    predictions.loc[insider, "probability_active"] = 0.1
    listed = insiders_at_risk(features, membership, THRESHOLDS, predictions, AS_OF,
                              within_days=0, min_probability_active=0.4)
    assert listed["customer_id"].tolist() == [insider]
    assert "10%, below 40%" in listed["reason"].iloc[0]


def test_listed_at_risk_who_buy_nothing_leave_on_the_stated_date(state):
    rows, features, membership, model = state
    listed = insiders_at_risk(features, membership, THRESHOLDS, model.predict(90), AS_OF,
                              within_days=30, min_probability_active=None)
    later = rows["invoice_date"].dt.date > AS_OF
    quiet = rows[~(later & rows["customer_id"].isin(listed["customer_id"]))]
    for leave, group in listed.groupby("leave_date"):
        ids = group["customer_id"].to_numpy()
        before = customer_features(quiet, leave - dt.timedelta(days=1))
        on_day = customer_features(quiet, leave)
        assert assign_membership(before, THRESHOLDS, membership).loc[ids].all()
        assert not assign_membership(on_day, THRESHOLDS, membership).loc[ids].any()


def test_about_to_qualify_would_meet_every_entry_level(state):
    _, features, membership, model = state
    soon = model.predict(30)
    listed = about_to_qualify(features, membership, THRESHOLDS, soon, AS_OF, within_days=30,
                              min_expected_purchases=0.5)
    assert list(listed.columns) == list(QUALIFY_COLUMNS)
    assert len(listed) > 0
    assert listed["expected_value"].is_monotonic_decreasing
    ids = listed["customer_id"].to_numpy()
    assert not membership.loc[ids].any()
    assert not meets_entry(features.loc[ids], THRESHOLDS).any()
    projected = features.loc[ids].copy()
    projected["invoice_quantity"] += soon.loc[ids, "expected_purchases"].to_numpy()
    projected["gross_revenue"] += soon.loc[ids, "expected_spend"].to_numpy()
    projected["recency_days"] = 0
    assert meets_entry(projected, THRESHOLDS).all()
    assert (listed["qualify_by"] == AS_OF + dt.timedelta(days=30)).all()
    for reason in listed["reason"]:
        assert not JARGON.search(reason), reason
        assert "at least 1,500 spent" in reason


def test_nobody_expected_to_buy_does_not_qualify(state):
    _, features, membership, model = state
    none = model.predict(30).assign(expected_purchases=0.0, expected_spend=0.0)
    listed = about_to_qualify(features, membership, THRESHOLDS, none, AS_OF)
    assert listed.empty and list(listed.columns) == list(QUALIFY_COLUMNS)
    assert np.isfinite(model.predict(30)["expected_spend"]).all()
