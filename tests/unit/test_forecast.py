"""BG/NBD + Gamma-Gamma forecast: summary, fit against PyMC-Marketing's MAP, predictions, stored
parameters, determinism."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from pipeline.btyd import rfm_summary
from pipeline.errors import PipelineInputError
from pipeline.forecast import PREDICTION_COLUMNS, ForwardModel
from tests.unit.forecast_data import AS_OF, synthetic_clean

# PyMC-Marketing 0.19.2, BetaGeoModel / GammaGammaModel with default priors, fit(method="map"),
# on the summary of synthetic_clean() as of AS_OF (guests left out)
PYMC_PARAMS = {"r": 0.341661, "alpha": 23.95186, "a": 0.0615316, "b": 0.938479,
               "p": 6.154989, "q": 1.299996, "v": 40.01615}
# customer_id: probability alive, expected purchases in 90 days, expected spend per purchase
PYMC_PREDICTIONS = {12348: (1.0, 0.10931817, 821.00857),
                    12349: (0.96066585, 2.88537572, 121.39955),
                    12351: (0.99379395, 4.55063936, 72.07687),
                    12355: (0.98785417, 2.12304266, 104.52030)}


@pytest.fixture(scope="module")
def cleaned():
    return synthetic_clean()


@pytest.fixture(scope="module")
def model(cleaned):
    return ForwardModel(guest_id_range=cleaned.guest_id_range).fit(cleaned.transactions, AS_OF)


def test_rfm_summary_counts_days_and_repeat_spend():
    rows = pd.DataFrame({
        "customer_id": [1, 1, 1, 1, 2, 3],
        "invoice_date": pd.to_datetime(["2011-01-01 09:00", "2011-01-01 15:00", "2011-01-11 10:00",
                                        "2011-01-21 10:00", "2011-01-05 10:00",
                                        "2011-02-01 10:00"]),
        "value": [10.0, 5.0, 20.0, 40.0, 7.0, 99.0],
    })
    rfm = rfm_summary(rows, dt.date(2011, 1, 31))
    assert list(rfm.index) == [1, 2]  # customer 3 bought after the as-of date
    assert rfm.loc[1].tolist() == [2.0, 20.0, 30.0, 30.0]  # first day (15.0) not in the mean
    assert rfm.loc[2].tolist() == [0.0, 0.0, 26.0, 0.0]


def test_map_fit_matches_pymc_marketing(model):
    ours = {**model.bgnbd_params_, **model.gamma_gamma_params_}
    for name, value in PYMC_PARAMS.items():
        assert ours[name] == pytest.approx(value, rel=1e-3 if name != "a" else 1e-2), name


def test_closed_form_predictions_match_pymc_marketing(model):
    predicted = model.predict(90)
    for customer, (alive, purchases, per_purchase) in PYMC_PREDICTIONS.items():
        row = predicted.loc[customer]
        assert row["probability_active"] == pytest.approx(alive, abs=1e-4)
        assert row["expected_purchases"] == pytest.approx(purchases, rel=1e-3)
        assert row["expected_spend"] == pytest.approx(purchases * per_purchase, rel=1e-3)


def test_predictions_shape_and_ranges(model):
    predicted = model.predict(90)
    assert list(predicted.columns) == list(PREDICTION_COLUMNS)
    assert predicted.index.name == "customer_id"
    assert predicted.index.equals(model.rfm_.index)
    assert predicted["probability_active"].between(0, 1).all()
    assert (predicted[["expected_purchases", "expected_spend"]] >= 0).all().all()
    assert np.allclose(model.predict(0)["expected_purchases"], 0.0)
    longer = model.predict(180)
    assert (longer["expected_purchases"] >= predicted["expected_purchases"]).all()


def test_guests_are_left_out(cleaned, model):
    low, high = cleaned.guest_id_range
    assert not model.rfm_.index.to_series().between(low, high).any()
    with_guests = ForwardModel().summarize(cleaned.transactions, AS_OF)
    assert len(with_guests) > len(model.rfm_)


def test_fit_is_deterministic_and_independent_of_row_order(cleaned, model):
    shuffled = cleaned.transactions.sample(frac=1.0, random_state=7)
    again = ForwardModel(guest_id_range=cleaned.guest_id_range).fit(shuffled, AS_OF)
    assert again.to_params() == model.to_params()


def test_stored_parameters_score_without_refitting(cleaned, model):
    stored = json.loads(json.dumps(model.to_params()))
    loaded = ForwardModel.from_params(stored)
    pd.testing.assert_frame_equal(loaded.score(cleaned.transactions, AS_OF, 90),
                                  model.predict(90))
    later = loaded.score(cleaned.transactions, AS_OF + dt.timedelta(days=30), 30)
    assert len(later) >= len(model.rfm_)
    assert loaded.to_params() == model.to_params()


def test_stored_parameters_of_another_format_are_refused(model):
    stored = model.to_params() | {"format": 99}
    with pytest.raises(PipelineInputError, match="format 99"):
        ForwardModel.from_params(stored)


def test_fit_on_a_seeded_sample_above_the_limit(cleaned):
    def fit(seed: int) -> dict:
        return ForwardModel(max_fit_customers=200, random_state=seed).fit(
            cleaned.transactions, AS_OF).to_params()

    first = fit(1)
    assert first["n_fit_customers"] == 200
    assert fit(1) == first
    assert fit(2)["bgnbd"] != first["bgnbd"]


def test_unfitted_model_and_missing_columns_are_named(cleaned):
    with pytest.raises(PipelineInputError, match="not fitted"):
        ForwardModel().predict(90)
    with pytest.raises(PipelineInputError, match="amount"):
        ForwardModel(price_col="amount").fit(cleaned.transactions, AS_OF)

