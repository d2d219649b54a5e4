"""Buy-till-you-die models: BG/NBD (purchases and being alive) and Gamma-Gamma (spend per purchase).

The likelihoods and the conditional expectations are the standard ones (Fader, Hardie & Lee 2005,
"Counting your customers the easy way"; Fader & Hardie's Gamma-Gamma note), written here with
numpy and scipy so a fit is a few hundred likelihood evaluations and scoring needs only the stored
parameters. They follow PyMC-Marketing's ``clv`` module (``BetaGeoModel``, ``GammaGammaModel``,
``rfm_summary``) including its default priors, so the maximum a posteriori fit here is the one
``fit(method="map")`` finds there:

* BG/NBD: ``r ~ Weibull(2, 1)``, ``alpha ~ Weibull(2, 10)``, ``a = phi * kappa``,
  ``b = (1 - phi) * kappa`` with ``phi ~ Uniform(0, 1)`` and ``kappa ~ Pareto(1, 1)``;
* Gamma-Gamma: flat priors on ``p``, ``q``, ``v`` (the maximum likelihood fit).

Time is counted in days. Per customer (``rfm_summary``): ``frequency`` is the number of days with a
purchase after the first one, ``recency`` the days from the first to the last purchase day, ``T``
the days from the first purchase day to the observation day, ``monetary_value`` the mean spend of
the repeat purchase days (0 without one); spend is summed in whole millionths, as the daily rollup
keeps it (:mod:`pipeline.spend`), so the database computes the same summary
(:mod:`store.run_inputs`).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

from pipeline.errors import PipelineInputError
from pipeline.spend import MICRO

RFM_COLUMNS: tuple[str, ...] = ("frequency", "recency", "T", "monetary_value")
BGNBD_PARAMS: tuple[str, ...] = ("r", "alpha", "a", "b")
GAMMA_GAMMA_PARAMS: tuple[str, ...] = ("p", "q", "v")
SINGULAR_C = 1e-9


def rfm_summary(
    transactions: pd.DataFrame,
    as_of: dt.date,
    *,
    customer_col: str = "customer_id",
    date_col: str = "invoice_date",
    value_col: str = "value",
) -> pd.DataFrame:
    """Frequency, recency, T and monetary value per customer (index ``customer_col``) from
    purchase rows dated on or before ``as_of``; rows are summed per customer and day."""
    missing = [c for c in (customer_col, date_col, value_col) if c not in transactions.columns]
    if missing:
        raise PipelineInputError(f"transactions lack column(s): {', '.join(missing)}")
    day = transactions[date_col].to_numpy().astype("datetime64[D]").astype("int64")
    end = int(np.datetime64(as_of, "D").astype("int64"))
    keep = day <= end
    # money in whole millionths (pipeline.spend): exact sums, whatever the rows' order
    micro = np.rint(transactions[value_col].to_numpy(dtype=float)[keep] * MICRO).astype("int64")
    daily = (
        pd.DataFrame({"customer": transactions[customer_col].to_numpy()[keep],
                      "day": day[keep], "value": micro})
        .groupby(["customer", "day"], sort=True)["value"].sum()
        .reset_index()
    )
    grouped = daily.groupby("customer", sort=True)
    first, last = grouped["day"].min(), grouped["day"].max()
    n_days = grouped["day"].size()
    first_value = grouped["value"].first()
    total = grouped["value"].sum()
    frequency = n_days - 1
    repeat = (total - first_value).astype(float) / MICRO
    repeat_mean = (repeat / frequency.where(frequency > 0)).fillna(0.0)
    out = pd.DataFrame(
        {"frequency": frequency.astype(float), "recency": (last - first).astype(float),
         "T": (end - first).astype(float), "monetary_value": repeat_mean.astype(float)},
    )
    out.index = out.index.rename(customer_col)
    return out


def bgnbd_log_likelihood(
    params: dict[str, float], frequency: np.ndarray, recency: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Log-likelihood of each customer's (frequency, recency, T) under BG/NBD."""
    r, alpha, a, b = (params[k] for k in BGNBD_PARAMS)
    x, t_x = frequency, recency
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    a4 = np.where(repeat, np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0))
                  - (r + x) * np.log(alpha + t_x), -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


def bgnbd_log_prior(params: dict[str, float]) -> float:
    """PyMC-Marketing's default BG/NBD priors (see the module docstring), up to a constant."""
    kappa = params["a"] + params["b"]
    if kappa < 1:
        return -np.inf
    return (_log_weibull(params["r"], 2.0, 1.0) + _log_weibull(params["alpha"], 2.0, 10.0)
            - 2.0 * np.log(kappa))


def fit_bgnbd(rfm: pd.DataFrame, *, use_priors: bool = True) -> dict[str, float]:
    """Maximum a posteriori BG/NBD parameters (maximum likelihood with ``use_priors=False``)."""
    if len(rfm) == 0:
        raise PipelineInputError("no customers to fit the purchase model on")
    # customers with the same history count once, weighted: the likelihood is the same, cheaper
    histories, weight = np.unique(rfm[["frequency", "recency", "T"]].to_numpy(dtype=float),
                                  axis=0, return_counts=True)
    x, t_x, T = histories.T
    n = len(rfm)

    def unpack(z: np.ndarray) -> dict[str, float]:
        # phi in (0, 1) and kappa >= 1 (the prior's support): a = phi * kappa, b = (1 - phi) kappa
        phi, kappa = 1.0 / (1.0 + np.exp(-z[2])), 1.0 + np.exp(z[3])
        return {"r": float(np.exp(z[0])), "alpha": float(np.exp(z[1])),
                "a": float(phi * kappa), "b": float((1 - phi) * kappa)}

    def loss(z: np.ndarray) -> float:
        params = unpack(z)
        value = (weight * bgnbd_log_likelihood(params, x, t_x, T)).sum()
        if use_priors:
            value += bgnbd_log_prior(params)
        return -value / n if np.isfinite(value) else 1e10

    scale = max(float(rfm["T"].mean()), 1.0)
    start = np.array([0.0, np.log(scale / 10.0), 0.0, 0.0])
    best = _minimize(loss, start)
    return unpack(best)


def gamma_gamma_log_likelihood(
    params: dict[str, float], frequency: np.ndarray, monetary_value: np.ndarray
) -> np.ndarray:
    """Log-likelihood of each repeat customer's mean spend under Gamma-Gamma."""
    p, q, v = (params[k] for k in GAMMA_GAMMA_PARAMS)
    x, m = frequency, monetary_value
    return (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v)
            + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(x * m + v))


def fit_gamma_gamma(rfm: pd.DataFrame) -> dict[str, float]:
    """Maximum likelihood Gamma-Gamma parameters from customers with a repeat purchase."""
    repeat = (rfm["frequency"] > 0) & (rfm["monetary_value"] > 0)
    x = rfm.loc[repeat, "frequency"].to_numpy(dtype=float)
    m = rfm.loc[repeat, "monetary_value"].to_numpy(dtype=float)
    if len(x) < 2:
        raise PipelineInputError("too few repeat customers to fit the spend model on")
    n = len(x)

    def unpack(z: np.ndarray) -> dict[str, float]:
        return dict(zip(GAMMA_GAMMA_PARAMS, (float(v) for v in np.exp(z)), strict=True))

    def loss(z: np.ndarray) -> float:
        value = gamma_gamma_log_likelihood(unpack(z), x, m).sum()
        return -value / n if np.isfinite(value) else 1e10

    start = np.array([0.0, 0.0, np.log(max(float(np.mean(m)), 1e-6))])
    return unpack(_minimize(loss, start))


def probability_alive(params: dict[str, float], rfm: pd.DataFrame) -> np.ndarray:
    """P(still active at T | frequency, recency, T) under BG/NBD."""
    r, alpha, a, b = (params[k] for k in BGNBD_PARAMS)
    x, t_x, T = (rfm[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    return 1.0 / (1.0 + _dropout_odds(a, b, r, alpha, x, t_x, T))


def expected_purchases(params: dict[str, float], rfm: pd.DataFrame, days: float) -> np.ndarray:
    """Expected purchase days in (T, T + ``days``] given each customer's history (BG/NBD)."""
    r, alpha, a, b = (params[k] for k in BGNBD_PARAMS)
    x, t_x, T = (rfm[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    ratio = (alpha + T) / (alpha + T + days)
    # c -> 0 (a + b = 1 and no repeat purchase: kappa at its prior's bound) is a removable
    # singularity of c * 2F1(.; c; .); a c of 1e-9 gives the limit to about 1e-9
    c = a + b + x - 1
    c = np.where(np.abs(c) < SINGULAR_C, np.where(c < 0, -SINGULAR_C, SINGULAR_C), c)
    numerator = 1.0 - ratio ** (r + x) * hyp2f1(r + x, b + x, c, days / (alpha + T + days))
    numerator *= c / (a - 1)
    expected = numerator / (1.0 + _dropout_odds(a, b, r, alpha, x, t_x, T))
    if not np.all(np.isfinite(expected)):
        raise PipelineInputError("the purchase model's parameters give no finite prediction")
    return expected


def expected_spend_per_purchase(params: dict[str, float], rfm: pd.DataFrame) -> np.ndarray:
    """Expected spend of a future purchase day given each customer's history (Gamma-Gamma);
    customers without a repeat purchase get the population mean ``p v / (q - 1)``."""
    p, q, v = (params[k] for k in GAMMA_GAMMA_PARAMS)
    if q <= 1:
        raise PipelineInputError("the spend model's shape q must exceed 1 to predict")
    x, m = (rfm[c].to_numpy(dtype=float) for c in ("frequency", "monetary_value"))
    return p * (v + x * m) / (p * x + q - 1)


def _dropout_odds(
    a: float, b: float, r: float, alpha: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    repeat = x > 0
    safe = np.where(repeat, b + x - 1, 1.0)
    odds = a / safe * np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + t_x)))
    return np.where(repeat, odds, 0.0)


def _log_weibull(value: float, shape: float, scale: float) -> float:
    return float(np.log(shape / scale) + (shape - 1) * np.log(value / scale)
                 - (value / scale) ** shape)


def _minimize(loss, start: np.ndarray) -> np.ndarray:
    """L-BFGS-B from ``start``, polished by Nelder-Mead (deterministic, no random restarts)."""
    first = minimize(loss, start, method="L-BFGS-B", options={"ftol": 1e-13, "gtol": 1e-9})
    # a bounded polish: finite-difference gradients stop L-BFGS-B a little short on flat ridges
    polished = minimize(loss, first.x, method="Nelder-Mead",
                        options={"xatol": 1e-8, "fatol": 1e-12, "maxfev": 600})
    best = polished if polished.fun <= first.fun else first
    if not np.isfinite(best.fun) or best.fun >= 1e10:
        raise PipelineInputError("the model fit did not converge on these transactions")
    return best.x
