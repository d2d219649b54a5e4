"""Out-of-time evidence for the forecast: fit as of a date, compare each customer's predicted
spend with what they spent in the next days, beside two naive baselines measured in the same call.

Baselines (per customer known on the as-of date):

``last_period``    the spend of the ``horizon_days`` up to the as-of date, repeated;
``lifetime_rate``  the lifetime spend per day since the first purchase (both days included),
                   times ``horizon_days``.

Metrics: mean absolute error, Spearman rank correlation, and the share of the next period's
revenue captured by the top ``top_share`` of customers ranked by the prediction (ties broken by
customer id, so the figure is reproducible).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from pipeline.features import resolve_as_of
from pipeline.forecast import ForwardModel

PREDICTORS: tuple[str, ...] = ("model", "last_period", "lifetime_rate")
METRIC_COLUMNS: tuple[str, ...] = ("mae", "spearman", "top_capture", "predicted_total")
CALIBRATION_COLUMNS: tuple[str, ...] = (
    "decile", "customers", "mean_predicted", "mean_actual", "predicted_total", "actual_total",
)


@dataclass
class ForecastCheck:
    """What :func:`out_of_time_check` measured."""

    as_of: dt.date
    horizon_days: int
    metrics: pd.DataFrame
    """One row per predictor (:data:`PREDICTORS`), columns :data:`METRIC_COLUMNS`."""
    calibration: pd.DataFrame
    """The model's predicted vs actual spend by decile of prediction (1 = lowest)."""
    per_customer: pd.DataFrame
    """Index customer_id; the three predictions and ``actual``."""
    actual_total: float
    fit_seconds: float
    params: dict


def out_of_time_check(
    transactions: pd.DataFrame,
    as_of: dt.date | str,
    *,
    horizon_days: int = 90,
    top_share: float = 0.10,
    model: ForwardModel | None = None,
) -> ForecastCheck:
    """Fit ``model`` (default :class:`ForwardModel`) on purchases up to ``as_of`` and measure it
    and the baselines against each known customer's spend in the next ``horizon_days``."""
    model = model or ForwardModel()
    day = resolve_as_of(transactions, as_of)
    started = time.perf_counter()
    model.fit(transactions, day)
    fit_seconds = time.perf_counter() - started
    predicted = model.predict(horizon_days)
    spend = _daily_spend(transactions, model)
    actual = _spend_between(spend, day, day + dt.timedelta(days=horizon_days))
    recent = _spend_between(spend, day - dt.timedelta(days=horizon_days), day)
    known = predicted.index
    rfm = model.rfm_.loc[known]
    lifetime = _spend_between(spend, dt.date.min, day).reindex(known, fill_value=0.0)
    table = pd.DataFrame(
        {"model": predicted["expected_spend"],
         "last_period": recent.reindex(known, fill_value=0.0),
         "lifetime_rate": lifetime / (rfm["T"] + 1.0) * horizon_days,
         "actual": actual.reindex(known, fill_value=0.0)},
        index=known,
    )
    metrics = pd.DataFrame(
        [_metrics(table[name], table["actual"], top_share) for name in PREDICTORS],
        index=pd.Index(PREDICTORS, name="predictor"), columns=list(METRIC_COLUMNS),
    )
    return ForecastCheck(
        as_of=day, horizon_days=horizon_days, metrics=metrics,
        calibration=calibration_table(table["model"], table["actual"]), per_customer=table,
        actual_total=float(table["actual"].sum()), fit_seconds=fit_seconds,
        params=model.to_params(),
    )


def calibration_table(predicted: pd.Series, actual: pd.Series, bins: int = 10) -> pd.DataFrame:
    """Predicted vs actual by quantile bin of ``predicted`` (ranks, ties by order: equal-sized
    bins), one row per bin from the lowest predictions up."""
    if len(predicted) == 0:
        return pd.DataFrame(columns=list(CALIBRATION_COLUMNS))
    ranks = predicted.rank(method="first").to_numpy()
    decile = np.minimum((ranks - 1) * bins // len(predicted), bins - 1).astype(int) + 1
    frame = pd.DataFrame({"decile": decile, "predicted": predicted.to_numpy(),
                          "actual": actual.to_numpy()})
    grouped = frame.groupby("decile", sort=True)
    return pd.DataFrame({
        "decile": grouped.size().index.astype(int),
        "customers": grouped.size().to_numpy(),
        "mean_predicted": grouped["predicted"].mean().to_numpy(),
        "mean_actual": grouped["actual"].mean().to_numpy(),
        "predicted_total": grouped["predicted"].sum().to_numpy(),
        "actual_total": grouped["actual"].sum().to_numpy(),
    })


def top_capture(predicted: pd.Series, actual: pd.Series, share: float = 0.10) -> float:
    """Share of the total ``actual`` held by the top ``share`` of customers by ``predicted``
    (ties broken by ascending index)."""
    total = float(actual.sum())
    if total <= 0 or len(predicted) == 0:
        return 0.0
    order = np.lexsort((predicted.index.to_numpy(), -predicted.to_numpy()))
    n_top = max(1, round(share * len(predicted)))
    return float(actual.to_numpy()[order[:n_top]].sum() / total)


def _metrics(predicted: pd.Series, actual: pd.Series, share: float) -> list[float]:
    error = float(np.mean(np.abs(predicted.to_numpy() - actual.to_numpy())))
    rho = spearmanr(predicted.to_numpy(), actual.to_numpy()).statistic
    return [error, float(rho) if np.isfinite(rho) else 0.0,
            top_capture(predicted, actual, share), float(predicted.sum())]


def _daily_spend(transactions: pd.DataFrame, model: ForwardModel) -> pd.DataFrame:
    """Purchase value per row with its day, for the customers the model counts."""
    quantity = transactions[model.quantity_col].to_numpy()
    keep = quantity > 0
    return pd.DataFrame({
        "customer": transactions[model.customer_col].to_numpy()[keep],
        "day": transactions[model.date_col].to_numpy()[keep].astype("datetime64[D]"),
        "value": quantity[keep] * transactions[model.price_col].to_numpy(dtype=float)[keep],
    })


def _spend_between(spend: pd.DataFrame, start: dt.date, end: dt.date) -> pd.Series:
    """Spend per customer on the days after ``start`` up to and including ``end``."""
    low = np.datetime64(start, "D")
    window = (spend["day"].to_numpy() > low) & (spend["day"].to_numpy()
                                                 <= np.datetime64(end, "D"))
    return spend.loc[window].groupby("customer", sort=True)["value"].sum()
