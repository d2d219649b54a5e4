"""Looking ahead: per customer, the probability of still being active, and the expected purchases
and spend in the next days, from BG/NBD + Gamma-Gamma (:mod:`pipeline.btyd`) fitted as of a date.

The fitted parameters are plain numbers (:meth:`ForwardModel.to_params`), so a model version can
keep them as JSON and a scoring run can predict with them (:meth:`ForwardModel.from_params`)
without refitting.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from pipeline.btyd import (
    BGNBD_PARAMS,
    GAMMA_GAMMA_PARAMS,
    expected_purchases,
    expected_spend_per_purchase,
    fit_bgnbd,
    fit_gamma_gamma,
    probability_alive,
    rfm_summary,
)
from pipeline.errors import PipelineInputError
from pipeline.features import resolve_as_of

PREDICTION_COLUMNS: tuple[str, ...] = (
    "probability_active", "expected_purchases", "expected_spend",
)
PARAMS_FORMAT = 1


class ForwardModel:
    """BG/NBD + Gamma-Gamma fitted on purchases up to ``as_of``, predicting the next days.

    Purchases are rows with ``quantity > 0``; their value is quantity x unit price, summed per
    customer and day. Customers whose ids fall in ``guest_id_range`` (inclusive; the cleaning's
    one-invoice guest ids) are left out. Above ``max_fit_customers`` customers the fit uses a
    random sample of that many (``random_state``); every customer is predicted.
    """

    def __init__(
        self,
        *,
        customer_col: str = "customer_id",
        date_col: str = "invoice_date",
        quantity_col: str = "quantity",
        price_col: str = "unit_price",
        guest_id_range: tuple[int, int] | None = None,
        use_priors: bool = True,
        max_fit_customers: int = 50_000,
        random_state: int = 42,
    ) -> None:
        self.customer_col = customer_col
        self.date_col = date_col
        self.quantity_col = quantity_col
        self.price_col = price_col
        self.guest_id_range = guest_id_range
        self.use_priors = use_priors
        self.max_fit_customers = max_fit_customers
        self.random_state = random_state

    def summarize(self, transactions: pd.DataFrame, as_of: dt.date | str) -> pd.DataFrame:
        """Frequency, recency, T and monetary value per customer as of ``as_of``."""
        needed = (self.customer_col, self.date_col, self.quantity_col, self.price_col)
        missing = [c for c in needed if c not in transactions.columns]
        if missing:
            raise PipelineInputError(f"transactions lack column(s): {', '.join(missing)}")
        quantity = transactions[self.quantity_col].to_numpy()
        keep = quantity > 0
        if self.guest_id_range is not None:
            low, high = self.guest_id_range
            ids = transactions[self.customer_col].to_numpy()
            keep &= (ids < low) | (ids > high)
        rows = transactions.loc[keep, [self.customer_col, self.date_col]]
        rows = rows.assign(value=quantity[keep] * transactions[self.price_col].to_numpy()[keep])
        return rfm_summary(rows, resolve_as_of(transactions, as_of),
                           customer_col=self.customer_col, date_col=self.date_col)

    def fit(self, transactions: pd.DataFrame, as_of: dt.date | str) -> ForwardModel:
        """Fit both models on the purchases dated on or before ``as_of``."""
        day = resolve_as_of(transactions, as_of)
        return self.fit_summary(self.summarize(transactions, day), day)

    def fit_summary(self, rfm: pd.DataFrame, as_of: dt.date) -> ForwardModel:
        """Fit both models on ``rfm`` (:meth:`summarize`'s frame as of ``as_of``, guests
        included or not: those in ``guest_id_range`` are left out here)."""
        self.as_of_ = as_of
        if self.guest_id_range is not None:
            low, high = self.guest_id_range
            ids = rfm.index.to_numpy()
            rfm = rfm.loc[(ids < low) | (ids > high)]
        self.rfm_ = rfm
        sample = self.rfm_
        if len(sample) > self.max_fit_customers:
            rng = np.random.default_rng(self.random_state)
            chosen = np.sort(rng.choice(len(sample), self.max_fit_customers, replace=False))
            sample = sample.iloc[chosen]
        self.bgnbd_params_ = fit_bgnbd(sample, use_priors=self.use_priors)
        self.gamma_gamma_params_ = fit_gamma_gamma(sample)
        self.n_fit_customers_ = len(sample)
        return self

    def predict(self, horizon_days: int = 90, rfm: pd.DataFrame | None = None) -> pd.DataFrame:
        """Per customer (index ``customer_col``): probability_active, expected_purchases and
        expected_spend in the ``horizon_days`` after the as-of date.

        ``rfm`` (from :meth:`summarize`, for example on a later date with a stored model)
        defaults to the customers the model was fitted on.
        """
        self._check_fitted()
        if horizon_days < 0:
            raise PipelineInputError(f"horizon_days must be 0 or more, got {horizon_days}")
        rfm = self.rfm_ if rfm is None else rfm
        purchases = expected_purchases(self.bgnbd_params_, rfm, float(horizon_days))
        spend = purchases * expected_spend_per_purchase(self.gamma_gamma_params_, rfm)
        return pd.DataFrame(
            {"probability_active": probability_alive(self.bgnbd_params_, rfm),
             "expected_purchases": purchases, "expected_spend": spend},
            index=rfm.index.rename(self.customer_col),
        )

    def score(
        self, transactions: pd.DataFrame, as_of: dt.date | str, horizon_days: int = 90
    ) -> pd.DataFrame:
        """Predictions as of ``as_of`` with the fitted (or stored) parameters, without refitting."""
        self._check_fitted()
        return self.predict(horizon_days, self.summarize(transactions, as_of))

    def to_params(self) -> dict:
        """The fitted state as plain JSON data (see :meth:`from_params`)."""
        self._check_fitted()
        return {
            "format": PARAMS_FORMAT,
            "model": "bg/nbd+gamma-gamma",
            "fitted_as_of": self.as_of_.isoformat(),
            "n_fit_customers": int(self.n_fit_customers_),
            "bgnbd": {k: float(self.bgnbd_params_[k]) for k in BGNBD_PARAMS},
            "gamma_gamma": {k: float(self.gamma_gamma_params_[k]) for k in GAMMA_GAMMA_PARAMS},
            "settings": {"customer_col": self.customer_col, "date_col": self.date_col,
                         "quantity_col": self.quantity_col, "price_col": self.price_col,
                         "guest_id_range": None if self.guest_id_range is None
                         else [int(v) for v in self.guest_id_range],
                         "use_priors": self.use_priors,
                         "max_fit_customers": self.max_fit_customers,
                         "random_state": self.random_state},
        }

    @classmethod
    def from_params(cls, params: dict) -> ForwardModel:
        """A model that scores with stored parameters (from :meth:`to_params`); it has no
        customers of its own: predict with :meth:`score` or ``predict(rfm=...)``."""
        if params.get("format") != PARAMS_FORMAT:
            raise PipelineInputError(
                f"forecast parameters of format {params.get('format')!r} are not readable here")
        settings = dict(params["settings"])
        if settings["guest_id_range"] is not None:
            settings["guest_id_range"] = tuple(settings["guest_id_range"])
        model = cls(**settings)
        model.as_of_ = dt.date.fromisoformat(params["fitted_as_of"])
        model.n_fit_customers_ = int(params["n_fit_customers"])
        model.bgnbd_params_ = {k: float(params["bgnbd"][k]) for k in BGNBD_PARAMS}
        model.gamma_gamma_params_ = {k: float(params["gamma_gamma"][k])
                                     for k in GAMMA_GAMMA_PARAMS}
        model.rfm_ = pd.DataFrame(columns=["frequency", "recency", "T", "monetary_value"],
                                  index=pd.Index([], name=model.customer_col), dtype=float)
        return model

    def _check_fitted(self) -> None:
        if not hasattr(self, "bgnbd_params_"):
            raise PipelineInputError("the forecast model is not fitted: call fit() first")
