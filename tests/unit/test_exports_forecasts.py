"""The Insiders CSV with the run's forecasts: snake_case columns, numbers as numbers, ISO dates,
empty for an Insider without a forecast."""

from __future__ import annotations

import io
from datetime import date

import pandas as pd

from pipeline.columns import FEATURE_COLUMNS
from pipeline.exports import FORECAST_COLUMNS, insiders_table, to_csv


def _labels() -> pd.DataFrame:
    frame = pd.DataFrame({"customer_id": [1, 2, 3], "cluster": [0, 0, 1],
                          "is_insiders": [True, True, False]})
    for i, name in enumerate(FEATURE_COLUMNS):
        frame[name] = [10.0 * (i + 1), 20.0 * (i + 1), 1.0]
    return frame.set_index("customer_id")


def test_insiders_csv_with_forecasts():
    forecasts = pd.DataFrame({
        "customer_id": [2, 3], "p_active": [0.123456, 0.9], "expected_purchases": [1.23456, 2.0],
        "expected_spend": [99.999, 5.0], "at_risk_on": [date(2011, 12, 24), None],
        "at_risk_reason": ["Last bought 80 days ago.", None],
        "qualifies_on": [None, None], "qualify_reason": [None, None],
    })
    table = insiders_table(_labels(), as_of="2011-12-09", run_id=4, forecasts=forecasts)
    assert list(table.columns[-len(FORECAST_COLUMNS):]) == list(FORECAST_COLUMNS)
    back = pd.read_csv(io.StringIO(to_csv(table)))
    assert back["customer_id"].tolist() == [2, 1]
    two = back.set_index("customer_id").loc[2]
    assert (two["p_active"], two["expected_purchases"], two["expected_spend"]) == (
        0.1235, 1.2346, 100.0)
    assert two["at_risk_on"] == "2011-12-24" and two["at_risk_reason"].startswith("Last")
    assert back.set_index("customer_id").loc[1, FORECAST_COLUMNS].isna().all()
    assert pd.api.types.is_float_dtype(back["expected_spend"])


def test_without_forecasts_the_columns_are_unchanged():
    table = insiders_table(_labels(), as_of="2011-12-09")
    assert not set(FORECAST_COLUMNS) & set(table.columns)
