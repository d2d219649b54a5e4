"""Out-of-time check of the forecast against naive baselines: shapes, ranges, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.forecast import ForwardModel
from pipeline.forecast_check import (
    CALIBRATION_COLUMNS,
    METRIC_COLUMNS,
    PREDICTORS,
    calibration_table,
    out_of_time_check,
    top_capture,
)
from tests.unit.forecast_data import AS_OF, synthetic_clean


@pytest.fixture(scope="module")
def cleaned():
    return synthetic_clean()


@pytest.fixture(scope="module")
def check(cleaned):
    model = ForwardModel(guest_id_range=cleaned.guest_id_range)
    return out_of_time_check(cleaned.transactions, AS_OF, horizon_days=90, model=model)


def test_metrics_table_has_every_predictor_in_range(check):
    metrics = check.metrics
    assert list(metrics.index) == list(PREDICTORS)
    assert list(metrics.columns) == list(METRIC_COLUMNS)
    assert (metrics["mae"] >= 0).all()
    assert metrics["spearman"].between(-1, 1).all()
    assert metrics["top_capture"].between(0, 1).all()
    assert check.fit_seconds >= 0 and check.horizon_days == 90 and check.as_of == AS_OF


def test_actual_spend_is_the_next_period_of_known_customers(cleaned, check):
    rows = cleaned.transactions
    day = rows["invoice_date"].dt.normalize()
    start, end = pd.Timestamp(AS_OF), pd.Timestamp(AS_OF) + pd.Timedelta(days=90)
    window = rows[(day > start) & (day <= end) & (rows["quantity"] > 0)
                  & rows["customer_id"].isin(check.per_customer.index)]
    expected = float((window["quantity"] * window["unit_price"]).sum())
    assert check.actual_total == pytest.approx(expected)
    assert check.per_customer["actual"].sum() == pytest.approx(expected)


def test_calibration_by_decile(check):
    table = check.calibration
    assert list(table.columns) == list(CALIBRATION_COLUMNS)
    assert table["decile"].tolist() == list(range(1, 11))
    assert table["customers"].sum() == len(check.per_customer)
    assert table["customers"].max() - table["customers"].min() <= 1
    assert table["mean_predicted"].is_monotonic_increasing
    assert table["actual_total"].sum() == pytest.approx(check.actual_total)


def test_check_is_deterministic(cleaned, check):
    again = out_of_time_check(cleaned.transactions, AS_OF, horizon_days=90,
                              model=ForwardModel(guest_id_range=cleaned.guest_id_range))
    pd.testing.assert_frame_equal(again.metrics, check.metrics)
    pd.testing.assert_frame_equal(again.calibration, check.calibration)
    assert again.params == check.params


def test_top_capture_breaks_ties_by_customer_id():
    predicted = pd.Series([5.0, 5.0, 1.0, 0.0], index=[4, 3, 2, 1])
    actual = pd.Series([0.0, 10.0, 30.0, 60.0], index=[4, 3, 2, 1])
    assert top_capture(predicted, actual, share=0.25) == pytest.approx(0.1)  # customer 3 first
    assert top_capture(predicted, actual * 0, share=0.25) == 0.0


def test_calibration_table_of_nothing_is_empty():
    empty = pd.Series([], dtype=float)
    assert calibration_table(empty, empty).empty
    table = calibration_table(pd.Series(np.arange(20.0)), pd.Series(np.ones(20)), bins=4)
    assert table["customers"].tolist() == [5, 5, 5, 5]
