"""The report: every figure recomputed here from the labels frame."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from pipeline.columns import FEATURE_COLUMNS
from pipeline.errors import PipelineInputError
from pipeline.membership import assign_membership
from pipeline.report import build_report
from pipeline.report_intervals import bootstrap_mean_ci
from pipeline.thresholds import derive_thresholds
from tests.unit.model_data import make_features

AS_OF = dt.date(2011, 6, 30)


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return make_features(300, seed=3)


@pytest.fixture(scope="module")
def cluster(features: pd.DataFrame) -> np.ndarray:
    """Clusters by revenue rank, so the top cluster (4) is clearly the richest."""
    rank = features["gross_revenue"].rank(method="first").to_numpy()
    return np.minimum((rank - 1) // 60, 4).astype(int)


@pytest.fixture(scope="module")
def thresholds(features: pd.DataFrame, cluster: np.ndarray) -> dict:
    return derive_thresholds(features, cluster == 4)


@pytest.fixture(scope="module")
def labels(features: pd.DataFrame, cluster: np.ndarray, thresholds: dict) -> pd.DataFrame:
    """A first model version's labels: the Insiders are the members, not the cluster."""
    frame = features.assign(
        cluster=cluster, is_insiders=assign_membership(features, thresholds),
        embedding_x=0.0, embedding_y=0.0,
    )
    return frame[["cluster", "is_insiders", "embedding_x", "embedding_y", *FEATURE_COLUMNS]]


@pytest.fixture(scope="module")
def clean(labels: pd.DataFrame) -> pd.DataFrame:
    """Purchases after AS_OF: Insiders buy ten times as much; one row beyond the 90 days."""
    ids = labels.index.to_numpy()
    price = np.where(labels["is_insiders"], 50.0, 5.0)
    rows = pd.DataFrame(
        {
            "invoice_no": [f"A{i}" for i in range(len(ids))],
            "quantity": 2,
            "invoice_date": pd.Timestamp("2011-07-15 10:00"),
            "unit_price": price,
            "customer_id": ids,
        }
    )
    late = rows.iloc[:1].assign(invoice_date=pd.Timestamp("2011-10-30"), unit_price=1e6)
    before = rows.iloc[:1].assign(invoice_date=pd.Timestamp("2011-06-30 18:00"), unit_price=1e6)
    ret = rows.iloc[1:2].assign(quantity=-5)
    return pd.concat([before, rows, late, ret], ignore_index=True)


@pytest.fixture(scope="module")
def report(labels, clean, thresholds):
    return build_report(labels, as_of=AS_OF, thresholds=thresholds, clean=clean, random_state=1)


def test_answers_one_two_four(report, labels: pd.DataFrame) -> None:
    insiders = labels[labels["is_insiders"]]
    assert report.insiders_ids == sorted(insiders.index.tolist())
    assert report.n_insiders == len(insiders) and report.n_customers == len(labels)
    assert report.insiders_share == pytest.approx(len(insiders) / len(labels))
    share = insiders["gross_revenue"].sum() / labels["gross_revenue"].sum()
    assert report.revenue_share == pytest.approx(share)
    assert report.insiders_csv().splitlines()[1:] == [str(i) for i in report.insiders_ids]


def test_cluster_profiles(report, labels: pd.DataFrame) -> None:
    rows = {row["cluster"]: row for row in report.clusters}
    for cluster, group in labels.groupby("cluster"):
        assert rows[cluster]["size"] == len(group)
        assert rows[cluster]["share"] == pytest.approx(len(group) / len(labels))
        for column in FEATURE_COLUMNS:
            assert rows[cluster][column] == pytest.approx(group[column].mean())
        members = group["is_insiders"]
        assert rows[cluster]["insiders_share"] == pytest.approx(members.mean())
    assert report.clusters[0]["cluster"] == 4
    holding = set(labels.loc[labels["is_insiders"], "cluster"])
    assert report.insiders_cluster == (holding.pop() if len(holding) == 1 else None)
    distinct = {row["feature"]: row for row in report.distinctive}
    inside = labels[labels["is_insiders"]]["gross_revenue"].mean()
    rest = labels[~labels["is_insiders"]]["gross_revenue"].mean()
    assert distinct["gross_revenue"]["ratio"] == pytest.approx(inside / rest)


def test_thresholds_are_the_model_versions(report, labels: pd.DataFrame, thresholds) -> None:
    """The Insiders of a first version are exactly the customers meeting its entry levels."""
    assert report.thresholds == thresholds and report.thresholds_source == "given"
    assert 0 < report.n_insiders < len(labels) and report.insiders_cluster in (4, None)
    counts = report.threshold_counts
    assert counts == {"insiders_meeting_entry": report.n_insiders, "others_meeting_entry": 0,
                      "insiders_meeting_exit": 0}
    text = report.to_markdown()
    assert "those of the model version in use" in text and "original rule" not in text


def test_given_thresholds_are_used(labels: pd.DataFrame) -> None:
    given = {
        "entry": {"gross_revenue": {"op": ">=", "value": 0.0}},
        "exit": {"gross_revenue": {"op": "<", "value": -1.0}},
    }
    report = build_report(labels, as_of=AS_OF, thresholds=given)
    assert report.thresholds == given and report.thresholds_source == "given"
    assert report.threshold_counts["others_meeting_entry"] == (~labels["is_insiders"]).sum()
    assert report.out_of_time is None


def test_bootstrap_intervals(report, labels: pd.DataFrame) -> None:
    inside = labels.loc[labels["is_insiders"], "gross_revenue"].to_numpy()
    evidence = report.evidence["gross_revenue"]
    assert evidence["insiders_mean"] == pytest.approx(inside.mean())
    low, high = evidence["insiders_ci95"]
    assert low < inside.mean() < high
    # a normal-approximation interval should be close to the bootstrap one
    half = 1.96 * inside.std(ddof=1) / np.sqrt(inside.size)
    assert low == pytest.approx(inside.mean() - half, rel=0.15)
    assert set(report.evidence) == {"gross_revenue", "invoice_quantity", "avg_ticket"}
    values = np.arange(10_000, dtype=float)
    first = bootstrap_mean_ci(values, np.random.default_rng(3), n_samples=500)
    assert first == bootstrap_mean_ci(values, np.random.default_rng(3), n_samples=500)


def test_out_of_time_check(report, labels: pd.DataFrame) -> None:
    result = report.out_of_time
    assert result["window_start"] == "2011-07-01"
    assert result["window_end"] == "2011-09-28"
    assert result["days_covered"] == 90
    spend = result["spend"]
    assert spend["insiders_mean"] == pytest.approx(100.0)
    assert spend["rest_mean"] == pytest.approx(10.0)
    assert result["insiders_spent_more"] is True
    assert result["share_buying"] == {"insiders": 1.0, "rest": 1.0}


def test_to_dict_is_json_and_markdown_has_seven_answers(report) -> None:
    data = json.loads(json.dumps(report.to_dict()))
    assert data["n_insiders"] == report.n_insiders and data["as_of"] == "2011-06-30"
    text = report.to_markdown()
    for number in range(1, 8):
        assert f"## {number}." in text


def test_labels_without_insiders_are_refused(labels: pd.DataFrame, thresholds) -> None:
    with pytest.raises(PipelineInputError, match="no customer"):
        build_report(labels.assign(is_insiders=False), as_of=AS_OF, thresholds=thresholds)
    with pytest.raises(PipelineInputError, match="cluster"):
        build_report(labels.drop(columns="cluster"), as_of=AS_OF, thresholds=thresholds)
