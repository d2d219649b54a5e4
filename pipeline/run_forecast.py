"""The looking-ahead step of a run: the forward model (BG/NBD + Gamma-Gamma) fitted with a new
model version or applied with the version's stored parameters, then, per customer, the
probability of still being active, the expected purchases and spend over the horizon, and the
at-risk and about-to-qualify dates with their reasons (:mod:`pipeline.at_risk`).

The result is one row per customer of the run, the columns :data:`FORECAST_COLUMNS`, which the
worker stores with the run's labels.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.at_risk import about_to_qualify, insiders_at_risk
from pipeline.forecast import ForwardModel

FORECAST_COLUMNS: tuple[str, ...] = (
    "p_active", "expected_purchases", "expected_spend",
    "at_risk_on", "at_risk_reason", "qualifies_on", "qualify_reason",
)
PARAMS_KEY = "forecast"


@dataclass(frozen=True)
class ForecastSettings:
    """How far ahead to look: predictions over ``horizon_days``; at risk when leaving within
    ``at_risk_days`` without a purchase or when the chance of being active is below
    ``at_risk_probability`` (0: never on that ground); about to qualify within
    ``at_risk_days``."""

    horizon_days: int = 90
    at_risk_days: int = 30
    at_risk_probability: float = 0.5
    max_fit_customers: int = 50_000


@dataclass
class RunForecast:
    frame: pd.DataFrame
    """Index customer_id; columns :data:`FORECAST_COLUMNS`."""
    params: dict
    fitted: bool
    metrics: dict = field(default_factory=dict)


def fit_forward_model(
    transactions: pd.DataFrame, as_of: dt.date, *, guest_id_range: tuple[int, int] | None,
    random_state: int, max_fit_customers: int = 50_000,
) -> dict:
    """The forward model's parameters (JSON data), fitted on the purchases up to ``as_of``."""
    return fit_forward_summary(ForwardModel().summarize(transactions, as_of), as_of,
                               guest_id_range=guest_id_range, random_state=random_state,
                               max_fit_customers=max_fit_customers)


def fit_forward_summary(
    rfm: pd.DataFrame, as_of: dt.date, *, guest_id_range: tuple[int, int] | None,
    random_state: int, max_fit_customers: int = 50_000,
) -> dict:
    """:func:`fit_forward_model` from every customer's RFM summary as of ``as_of``."""
    model = ForwardModel(guest_id_range=guest_id_range, random_state=random_state,
                         max_fit_customers=max_fit_customers)
    return model.fit_summary(rfm, as_of).to_params()


def run_forecast(
    transactions: pd.DataFrame,
    features: pd.DataFrame,
    membership: pd.Series,
    thresholds: dict,
    as_of: dt.date,
    *,
    params: dict | None,
    guest_id_range: tuple[int, int] | None = None,
    random_state: int = 42,
    settings: ForecastSettings | None = None,
) -> RunForecast:
    """Forecasts of ``features``' customers as of ``as_of`` with ``params`` (a model version's
    stored parameters); without them the forward model is fitted here first."""
    return forecast_summary(ForwardModel().summarize(transactions, as_of), features,
                            membership, thresholds, as_of, params=params,
                            guest_id_range=guest_id_range, random_state=random_state,
                            settings=settings)


def forecast_summary(
    rfm: pd.DataFrame,
    features: pd.DataFrame,
    membership: pd.Series,
    thresholds: dict,
    as_of: dt.date,
    *,
    params: dict | None,
    guest_id_range: tuple[int, int] | None = None,
    random_state: int = 42,
    settings: ForecastSettings | None = None,
    fit_rfm: pd.DataFrame | None = None,
) -> RunForecast:
    """:func:`run_forecast` from every customer's RFM summary as of ``as_of`` (guests
    included: they are predicted, never fitted on); without ``params`` the forward model is
    fitted on ``fit_rfm`` (the rows of a sample of customers; default: ``rfm``)."""
    settings = settings or ForecastSettings()
    started = time.perf_counter()
    fitted = params is None
    if fitted:
        params = fit_forward_summary(rfm if fit_rfm is None else fit_rfm, as_of,
                                     guest_id_range=guest_id_range, random_state=random_state,
                                     max_fit_customers=settings.max_fit_customers)
    fit_seconds = time.perf_counter() - started
    ahead, soon = predict_summary(rfm, features.index, params,
                                  (settings.horizon_days, settings.at_risk_days))
    known = ahead["probability_active"].notna().to_numpy()
    level = settings.at_risk_probability or None
    risky = insiders_at_risk(features, membership, thresholds, ahead, as_of,
                             within_days=settings.at_risk_days, min_probability_active=level)
    coming = about_to_qualify(features, membership, thresholds, soon, as_of,
                              within_days=settings.at_risk_days)
    frame = pd.DataFrame(
        {"p_active": ahead["probability_active"], "expected_purchases":
         ahead["expected_purchases"], "expected_spend": ahead["expected_spend"]},
        index=features.index.rename("customer_id"),
    )
    risky = risky.set_index("customer_id")
    coming = coming.set_index("customer_id")
    frame["at_risk_on"] = risky["leave_date"].reindex(frame.index).astype(object)
    frame["at_risk_reason"] = risky["reason"].reindex(frame.index).astype(object)
    frame["qualifies_on"] = coming["qualify_by"].reindex(frame.index).astype(object)
    frame["qualify_reason"] = coming["reason"].reindex(frame.index).astype(object)
    for name in ("at_risk_on", "at_risk_reason", "qualifies_on", "qualify_reason"):
        frame[name] = frame[name].where(frame[name].notna(), None)
    metrics = {
        "horizon_days": settings.horizon_days, "at_risk_days": settings.at_risk_days,
        "at_risk_probability": settings.at_risk_probability,
        "n_at_risk": len(risky), "n_at_risk_leaving": int(risky["leave_date"].notna().sum()),
        "n_about_to_qualify": len(coming), "n_without_forecast": int((~known).sum()),
        "expected_spend": float(np.nansum(frame["expected_spend"].to_numpy())),
        "fitted": fitted, "fit_seconds": round(fit_seconds, 3) if fitted else None,
        "seconds": round(time.perf_counter() - started, 3),
    }
    return RunForecast(frame=frame.loc[:, list(FORECAST_COLUMNS)], params=params,
                       fitted=fitted, metrics=metrics)


def predict_customers(
    transactions: pd.DataFrame, customer_ids: pd.Index, as_of: dt.date, params: dict,
    horizons: tuple[int, ...],
) -> list[pd.DataFrame]:
    """Per horizon, probability_active, expected_purchases and expected_spend of
    ``customer_ids`` (in that order) as of ``as_of`` with the forward model's ``params``;
    a customer without a purchase by then gets NaN. Guests are predicted like anyone."""
    model = ForwardModel.from_params(params)
    model.guest_id_range = None
    return predict_summary(model.summarize(transactions, as_of), customer_ids, params, horizons)


def predict_summary(
    rfm: pd.DataFrame, customer_ids: pd.Index, params: dict, horizons: tuple[int, ...]
) -> list[pd.DataFrame]:
    """:func:`predict_customers` from the customers' RFM summary (rows of customers without a
    purchase by then may be absent)."""
    model = ForwardModel.from_params(params)
    rfm = rfm.reindex(customer_ids)
    known = rfm["frequency"].notna().to_numpy()
    return [_predict(model, rfm, known, days) for days in horizons]


def _predict(model: ForwardModel, rfm: pd.DataFrame, known: np.ndarray,
             horizon_days: int) -> pd.DataFrame:
    """Predictions for every row of ``rfm``; customers without a purchase to learn from (no
    row in the summary) get NaN."""
    out = pd.DataFrame(np.nan, index=rfm.index,
                       columns=["probability_active", "expected_purchases", "expected_spend"])
    if known.any():
        predicted = model.predict(horizon_days, rfm.loc[known])
        out.loc[known, :] = predicted.to_numpy()
    return out
