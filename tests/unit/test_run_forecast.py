"""A run looks ahead: a new model version fits the forward model and keeps its parameters, a
scoring run applies them without fitting, and every customer gets a forecast row with the
at-risk and about-to-qualify columns the store keeps."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from pipeline.clean import clean_transactions, load_profile
from pipeline.forecast import ForwardModel
from pipeline.ingest import validate_transactions
from pipeline.run import run_segmentation
from pipeline.run_forecast import FORECAST_COLUMNS, ForecastSettings, run_forecast
from pipeline.synthetic import generate_transactions

PROFILE = load_profile("online-retail")
FIRST, LATER = dt.date(2011, 9, 30), dt.date(2011, 10, 31)
SETTINGS = ForecastSettings(horizon_days=90, at_risk_days=30, at_risk_probability=0.5)


@pytest.fixture(scope="module")
def transactions() -> pd.DataFrame:
    return validate_transactions(generate_transactions(400, seed=7)).transactions


@pytest.fixture(scope="module")
def first(transactions):
    return run_segmentation(transactions, as_of=FIRST, profile=PROFILE, n_clusters=5,
                            forecast=SETTINGS)


def test_a_new_version_fits_and_keeps_the_forward_model(first):
    params = first.state.parameters["forecast"]
    assert params["fitted_as_of"] == FIRST.isoformat()
    json.dumps(params)  # kept as JSON with the model version
    assert first.metrics["forecast"]["fitted"] is True
    assert first.metrics["forecast"]["fit_seconds"] >= 0
    frame = first.forecasts
    assert list(frame.columns) == list(FORECAST_COLUMNS)
    assert frame.index.equals(first.labels.index)
    known = frame["p_active"].notna()
    assert known.mean() > 0.9
    assert frame.loc[known, "p_active"].between(0, 1).all()
    assert (frame.loc[known, "expected_spend"] >= 0).all()


def test_at_risk_rows_are_insiders_and_qualifying_rows_are_not(first):
    frame, labels = first.forecasts, first.labels
    risky = frame["at_risk_reason"].notna()
    coming = frame["qualify_reason"].notna()
    assert labels.loc[risky, "is_insiders"].all()
    assert not labels.loc[coming, "is_insiders"].any()
    assert first.metrics["forecast"]["n_at_risk"] == int(risky.sum())
    assert first.metrics["forecast"]["n_about_to_qualify"] == int(coming.sum())
    dated = frame.loc[frame["at_risk_on"].notna(), "at_risk_on"]
    assert all(FIRST <= day <= FIRST + dt.timedelta(days=30) for day in dated)
    assert (frame.loc[coming, "qualifies_on"] == FIRST + dt.timedelta(days=30)).all()


def test_a_scoring_run_applies_the_stored_parameters(transactions, first):
    later = run_segmentation(transactions, as_of=LATER, profile=PROFILE, n_clusters=5,
                             state=first.state, previous=first.labels, forecast=SETTINGS)
    assert not later.refitted
    assert later.metrics["forecast"]["fitted"] is False
    model = ForwardModel.from_params(first.state.parameters["forecast"])
    model.guest_id_range = None
    rows = clean_transactions(transactions, PROFILE).transactions
    expected = model.score(rows, LATER, horizon_days=90)
    got = later.forecasts.loc[expected.index]
    np.testing.assert_allclose(got["expected_spend"], expected["expected_spend"], rtol=1e-12)
    np.testing.assert_allclose(got["p_active"], expected["probability_active"], rtol=1e-12)


def test_an_older_version_without_parameters_fits_for_the_run(transactions, first):
    state = first.state
    stored = state.parameters.pop("forecast")
    try:
        later = run_segmentation(transactions, as_of=LATER, profile=PROFILE, n_clusters=5,
                                 state=state, previous=first.labels, forecast=SETTINGS)
    finally:
        state.parameters["forecast"] = stored
    assert later.metrics["forecast"]["fitted"] is True
    assert "forecast" not in later.state.parameters or later.state.parameters["forecast"] is stored


def test_without_forecast_settings_a_run_does_not_look_ahead(transactions, first):
    plain = run_segmentation(transactions, as_of=FIRST, profile=PROFILE, n_clusters=5,
                             state=first.state, previous=first.labels)
    assert plain.forecasts is None and "forecast" not in plain.metrics


def test_a_probability_level_of_zero_flags_only_leavers(first):
    features = pd.DataFrame(
        {"gross_revenue": [5000.0, 5000.0], "invoice_quantity": [10, 10],
         "recency_days": [10, 80]}, index=pd.Index([1, 2], name="customer_id"))
    thresholds = {"entry": {"gross_revenue": {"op": ">=", "value": 1000.0}},
                  "exit": {"recency_days": {"op": ">", "value": 100}}}
    rows = pd.DataFrame({
        "customer_id": [1, 1, 2, 2], "quantity": [1, 1, 1, 1], "unit_price": [10.0] * 4,
        "invoice_date": pd.to_datetime(["2011-01-05", "2011-09-20", "2011-02-01",
                                        "2011-07-12"]),
    })
    params = first.state.parameters["forecast"]
    membership = pd.Series([True, True], index=features.index)
    ahead = run_forecast(rows, features, membership, thresholds, dt.date(2011, 9, 30),
                         params=params, settings=ForecastSettings(at_risk_probability=0.0))
    frame = ahead.frame
    assert frame["at_risk_reason"].notna().tolist() == [False, True]
    assert frame.loc[2, "at_risk_on"] == dt.date(2011, 9, 30) + dt.timedelta(days=21)


def test_a_plus_b_of_one_still_predicts_customers_without_a_repeat():
    """kappa at its prior's bound gives a + b = 1: for a customer without a repeat purchase the
    closed form is 0 x infinity; its limit is what a nearby b gives."""
    from pipeline.btyd import expected_purchases

    rfm = pd.DataFrame({"frequency": [0.0, 0.0, 3.0], "recency": [0.0, 0.0, 40.0],
                        "T": [54.0, 300.0, 100.0]})
    params = {"r": 0.31, "alpha": 21.2, "a": 0.14, "b": 0.86}
    nearby = dict(params, b=0.86 + 1e-6)
    got = expected_purchases(params, rfm, 90.0)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected_purchases(nearby, rfm, 90.0), rtol=1e-5)


def test_a_forecast_that_cannot_be_made_leaves_the_run_whole(transactions, first, monkeypatch):
    import pipeline.run
    from pipeline.errors import PipelineInputError

    def cannot(*_args, **_kwargs):
        raise PipelineInputError("the model fit did not converge on these transactions")

    monkeypatch.setattr(pipeline.run, "forecast_summary", cannot)
    result = run_segmentation(transactions, as_of=LATER, profile=PROFILE, n_clusters=5,
                              state=first.state, previous=first.labels, forecast=SETTINGS)
    assert result.forecasts is None
    assert result.metrics["forecast"] == {
        "error": "the model fit did not converge on these transactions"}
    assert len(result.labels) > 0
