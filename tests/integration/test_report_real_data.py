"""The real data's report keeps the bootstrap intervals: its groups (hundreds and thousands of
customers) are under the size above which a group has the normal interval, so its report is
the one every group bootstrapped gives, to the byte."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from pipeline import report_intervals
from pipeline.clean import clean_transactions, load_profile
from pipeline.columns import FEATURE_COLUMNS
from pipeline.features import customer_features
from pipeline.ingest import read_transactions
from pipeline.membership import assign_membership
from pipeline.report import BOOTSTRAP_NOTE, build_report
from pipeline.report_inputs import report_inputs
from pipeline.thresholds import derive_thresholds

pytestmark = pytest.mark.realdata

AS_OF = dt.date(2011, 9, 9)  # three months of purchases after it: the out-of-time check


@pytest.fixture(scope="module")
def real(real_data_path):
    """The real customers' features as of AS_OF, Insiders by levels derived from the top
    revenue tenth (as a first model version's are), and the report's inputs."""
    clean = clean_transactions(read_transactions(real_data_path).transactions,
                               load_profile("online-retail")).transactions
    before = clean.loc[clean["invoice_date"].dt.date <= AS_OF]
    features = customer_features(before, AS_OF)
    top = features["gross_revenue"] >= features["gross_revenue"].quantile(0.9)
    thresholds = derive_thresholds(features, top)
    labels = features.assign(cluster=np.where(top, 1, 0),
                             is_insiders=assign_membership(features, thresholds),
                             embedding_x=0.0, embedding_y=0.0)
    labels = labels[["cluster", "is_insiders", "embedding_x", "embedding_y", *FEATURE_COLUMNS]]
    return labels, thresholds, report_inputs(clean, AS_OF, horizon_days=90)


def _made(real) -> tuple[str, str]:
    labels, thresholds, inputs = real
    report = build_report(labels, as_of=AS_OF, thresholds=thresholds, inputs=inputs,
                          forecast={})
    report.forecast = None
    return json.dumps(report.to_dict(), sort_keys=True), report.to_markdown()


def test_the_real_report_is_the_bootstrap_report(real, monkeypatch) -> None:
    labels, _, _ = real
    insiders = int(labels["is_insiders"].sum())
    assert 100 < insiders < len(labels) - insiders <= report_intervals.BOOTSTRAP_UP_TO
    made, text = _made(real)
    assert '"intervals"' not in made
    assert BOOTSTRAP_NOTE in text and "standard errors" not in text
    monkeypatch.setattr(report_intervals, "BOOTSTRAP_UP_TO", 10**12)  # every group bootstrapped
    assert _made(real) == (made, text)
    monkeypatch.setattr(report_intervals, "BOOTSTRAP_UP_TO", insiders)  # the rest is not
    other, other_text = _made(real)
    assert '"intervals"' in other and other_text != text
    assert pd.notna(json.loads(other)["evidence"]["gross_revenue"]["rest_ci95"][0])
