"""A partitioned run's report made in pieces (the forecast check as a job of its own, the rest
from the combined labels) equals the report one process makes, whether the check is fitted
before the run's date (made beside the partitions) or on it (it needs the run's Insiders, so
the report job makes it)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pipeline.features import customer_features
from pipeline.membership import assign_membership
from pipeline.partition_scoring import check_needs_labels, forecast_check, run_report
from pipeline.report import build_report
from pipeline.report_inputs import report_inputs
from pipeline.thresholds import derive_thresholds
from tests.unit.forecast_data import AS_OF, synthetic_clean

HORIZON = 90


@pytest.fixture(scope="module")
def cleaned():
    return synthetic_clean()


def _span(cleaned) -> tuple[dt.date, dt.date]:
    days = pd.to_datetime(cleaned.transactions["invoice_date"]).dt.date
    return days.min(), days.max()


def _without_seconds(value):
    if isinstance(value, dict):
        return {k: _without_seconds(v) for k, v in value.items() if "seconds" not in k}
    if isinstance(value, list):
        return [_without_seconds(v) for v in value]
    return value


@pytest.mark.parametrize("on_last_day", [False, True])
def test_the_report_in_pieces_equals_the_report_at_once(cleaned, on_last_day):
    span = _span(cleaned)
    as_of = span[1] if on_last_day else AS_OF
    features = customer_features(cleaned.transactions, as_of)
    top = features["gross_revenue"].rank(pct=True).to_numpy() > 0.85
    thresholds = derive_thresholds(features, top)
    labels = features.assign(
        is_insiders=assign_membership(features, thresholds),
        cluster=np.arange(len(features)) % 3,
    )
    inputs = report_inputs(cleaned.transactions, as_of, horizon_days=HORIZON)
    guests = cleaned.guest_id_range
    want = build_report(labels, as_of=as_of, thresholds=thresholds, inputs=inputs,
                        guest_id_range=guests, forecast_days=HORIZON).to_dict()

    deferred = check_needs_labels(span, as_of, HORIZON)
    assert deferred is not on_last_day  # both ways are tested
    if deferred:
        got = run_report(labels, thresholds, as_of=as_of, random_state=42,
                         report_inputs=inputs, forecast=None, forecast_days=HORIZON,
                         guest_id_range=guests)
    else:
        evidence = forecast_check(inputs, as_of, thresholds, random_state=42,
                                  guest_id_range=guests)
        got = run_report(labels, thresholds, as_of=as_of, random_state=42,
                         report_inputs=dataclasses.replace(inputs, check=None), forecast={},
                         forecast_days=HORIZON, guest_id_range=guests)
        assert got["forecast"] == {}
        got["forecast"] = evidence
    assert "predictors" in want["forecast"]
    assert _without_seconds(got) == _without_seconds(want)
