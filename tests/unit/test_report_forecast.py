"""Question 7 looking ahead: the report's out-of-time check of the forecast, its Markdown and the
report page's calibration chart, on the seeded synthetic data the forecast tests share."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from dashboard.report_charts import calibration_figure
from dashboard.report_text import answers
from pipeline.conditions import meets_entry
from pipeline.features import customer_features
from pipeline.forecast import ForwardModel
from pipeline.forecast_check import PREDICTORS, out_of_time_check
from pipeline.membership import assign_membership
from pipeline.report import build_report
from pipeline.report_forecast import forecast_evidence, forecast_lines
from pipeline.thresholds import derive_thresholds
from tests.unit.forecast_data import AS_OF, synthetic_clean


@pytest.fixture(scope="module")
def cleaned():
    return synthetic_clean()


@pytest.fixture(scope="module")
def thresholds(cleaned) -> dict:
    features = customer_features(cleaned.transactions, AS_OF)
    top = features["gross_revenue"].rank(pct=True).to_numpy() > 0.85
    return derive_thresholds(features, top)


def _labels(cleaned, thresholds, as_of: dt.date) -> pd.DataFrame:
    features = customer_features(cleaned.transactions, as_of)
    return features.assign(is_insiders=assign_membership(features, thresholds))


def test_a_run_with_later_data_is_checked_from_its_own_date(cleaned, thresholds):
    labels = _labels(cleaned, thresholds, AS_OF)
    result = forecast_evidence(labels, cleaned.transactions, AS_OF, thresholds,
                               guest_id_range=cleaned.guest_id_range)
    check = out_of_time_check(cleaned.transactions, AS_OF, horizon_days=90,
                              model=ForwardModel(guest_id_range=cleaned.guest_id_range))
    assert result["fit_as_of"] == AS_OF.isoformat()
    assert result["window_start"] == "2011-09-10" and result["window_end"] == "2011-12-08"
    assert list(result["predictors"]) == list(PREDICTORS)
    for name in PREDICTORS:
        for metric in ("mae", "spearman", "top_capture", "predicted_total"):
            assert result["predictors"][name][metric] == pytest.approx(
                check.metrics.loc[name, metric])
    assert [r["mean_predicted"] for r in result["calibration"]] == pytest.approx(
        check.calibration["mean_predicted"].tolist())
    # the run's own Insiders, their share of the period's revenue recomputed from the rows
    actual = check.per_customer["actual"]
    members = labels.index[labels["is_insiders"]].intersection(actual.index)
    assert result["insiders"]["group"] == "the Insiders of this run"
    assert result["insiders"]["customers"] == len(members) > 0
    assert result["insiders"]["capture"] == pytest.approx(
        actual[members].sum() / actual.sum())
    assert json.loads(json.dumps(result)) == result


def test_the_latest_run_is_checked_on_the_last_full_period_before_it(cleaned, thresholds):
    last = cleaned.transactions["invoice_date"].max().date()
    result = forecast_evidence(_labels(cleaned, thresholds, last), cleaned.transactions, last,
                               thresholds, guest_id_range=cleaned.guest_id_range)
    fit_day = last - dt.timedelta(days=90)
    assert result["fit_as_of"] == fit_day.isoformat() and result["window_end"] == str(last)
    # the group is who met the entry levels on the day of the fit, not the run's Insiders
    entry = meets_entry(customer_features(cleaned.transactions, fit_day), thresholds)
    check = out_of_time_check(cleaned.transactions, fit_day, horizon_days=90,
                              model=ForwardModel(guest_id_range=cleaned.guest_id_range))
    actual = check.per_customer["actual"]
    inside = entry.reindex(actual.index).fillna(False).to_numpy(dtype=bool)
    assert result["insiders"]["customers"] == int(inside.sum())
    assert result["insiders"]["capture"] == pytest.approx(actual[inside].sum() / actual.sum())
    assert fit_day.isoformat() in result["insiders"]["group"]


def test_markdown_explains_each_statistic_in_words(cleaned, thresholds):
    result = forecast_evidence(_labels(cleaned, thresholds, AS_OF), cleaned.transactions,
                               AS_OF, thresholds, guest_id_range=cleaned.guest_id_range)
    text = "\n".join(forecast_lines(result))
    for words in ("| Forecast |", "| Last 90 days repeated |", "| Lifetime spend rate |",
                  "Mean absolute error: on average", "Rank correlation: how well",
                  "Top 10% capture: the share", "Calibration: customers split",
                  "the Insiders of this run"):
        assert words in text
    assert "spearman" not in text and "mae" not in text and "_" not in text


def test_too_little_data_says_why_and_no_data_says_nothing(cleaned, thresholds):
    rows = cleaned.transactions
    short = rows[rows["invoice_date"] < rows["invoice_date"].min() + pd.Timedelta(days=60)]
    day = short["invoice_date"].max().date()
    result = forecast_evidence(_labels(cleaned, thresholds, AS_OF), short, day, thresholds)
    assert "unavailable" in result
    assert "No forecast check:" in "\n".join(forecast_lines(result))
    assert forecast_evidence(pd.DataFrame(), None, day, thresholds) is None
    assert forecast_lines(None) == []


def test_report_page_draws_the_stored_calibration():
    rows = [{"decile": d, "mean_predicted": float(d), "mean_actual": float(d) * 1.5}
            for d in range(1, 11)]
    figure = calibration_figure(rows)
    predicted, spent = figure["data"]
    assert predicted["x"] == [str(d) for d in range(1, 11)]
    assert predicted["y"] == [r["mean_predicted"] for r in rows]
    assert spent["y"] == [r["mean_actual"] for r in rows]
    assert np.all(np.diff(spent["y"]) > 0)


def test_the_report_and_its_markdown_carry_the_check(cleaned, thresholds):
    labels = _labels(cleaned, thresholds, AS_OF).assign(cluster=0)
    report = build_report(labels, as_of=AS_OF, thresholds=thresholds,
                          clean=cleaned.transactions, guest_id_range=cleaned.guest_id_range)
    assert report.to_dict()["forecast"]["fit_as_of"] == AS_OF.isoformat()
    section = report.to_markdown().split("## 7. Evidence", 1)[1]
    assert "**Looking ahead" in section and "| Forecast |" in section
    # the dashboard rebuilds the page's answers from the stored report: the same text
    stored = json.loads(json.dumps(report.to_dict()))
    seventh = answers(stored)[6]
    assert seventh["chart"] == "evidence" and "| Last 90 days repeated |" in seventh["answer"]
