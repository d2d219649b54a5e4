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
from pipeline.spend import purchase_spend

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


@dataclass
class CheckSpends:
    """Purchase value per customer around a fit day (:func:`pipeline.spend.purchase_spend`)."""

    recent: pd.Series
    """The ``horizon_days`` up to the fit day (after fit day - horizon, up to the fit day)."""
    actual: pd.Series
    """The ``horizon_days`` after the fit day."""
    lifetime: pd.Series
    """Every day up to the fit day."""


def check_spends(
    transactions: pd.DataFrame, day: dt.date, horizon_days: int, model: ForwardModel
) -> CheckSpends:
    """:class:`CheckSpends` from cleaned transactions (``model``'s column names)."""
    columns = {"customer_col": model.customer_col, "date_col": model.date_col,
               "quantity_col": model.quantity_col, "price_col": model.price_col}
    horizon = dt.timedelta(days=horizon_days)
    return CheckSpends(
        recent=purchase_spend(transactions, day - horizon, day, **columns),
        actual=purchase_spend(transactions, day, day + horizon, **columns),
        lifetime=purchase_spend(transactions, None, day, **columns),
    )


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
    return check_summary(model.summarize(transactions, day), check_spends(
        transactions, day, horizon_days, model), day, horizon_days=horizon_days,
        top_share=top_share, model=model)


def check_summary(
    rfm: pd.DataFrame,
    spends: CheckSpends,
    day: dt.date,
    *,
    horizon_days: int = 90,
    top_share: float = 0.10,
    model: ForwardModel | None = None,
) -> ForecastCheck:
    """:func:`out_of_time_check` from the customers' RFM summary as of ``day`` and their
    spends around it (what a database computes without reading any transaction)."""
    model = model or ForwardModel()
    started = time.perf_counter()
    model.fit_summary(rfm, day)
    fit_seconds = time.perf_counter() - started
    predicted = model.predict(horizon_days)
    known = predicted.index
    rfm = model.rfm_.loc[known]
    lifetime = spends.lifetime.reindex(known, fill_value=0.0)
    table = pd.DataFrame(
        {"model": predicted["expected_spend"],
         "last_period": spends.recent.reindex(known, fill_value=0.0),
         "lifetime_rate": lifetime / (rfm["T"] + 1.0) * horizon_days,
         "actual": spends.actual.reindex(known, fill_value=0.0)},
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
