"""What the report's out-of-time checks need of the transactions, as per-customer figures: the
spend after the as-of date (:func:`pipeline.report._out_of_time`) and, for the forecast check
(:mod:`pipeline.report_forecast`), the RFM summary and spends around the day it is fitted on.

:func:`report_inputs` computes them from cleaned transactions; the worker reads the same
figures from the database's daily rollup (:mod:`store.run_data`) without reading a transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.features import customer_features
from pipeline.forecast import ForwardModel
from pipeline.forecast_check import CheckSpends, check_spends
from pipeline.spend import purchase_spend

OUT_OF_TIME_DAYS = 90


@dataclass
class CheckInputs:
    """The forecast check's data: fitted as of ``fit_day``, compared over ``horizon_days``."""

    fit_day: dt.date
    horizon_days: int
    rfm: pd.DataFrame
    """Every customer's RFM summary as of ``fit_day``, guests included."""
    spends: CheckSpends
    entry_features: pd.DataFrame | None
    """Features as of ``fit_day`` when it is before the run's as-of date (who met the entry
    levels then); None when it is the run's date."""
    sample: tuple[int, int] | None = None
    """(k, n): the figures are those of every k-th customer id (``customer_id % k = 0``) of n
    customers; None: of every customer."""


@dataclass
class ReportInputs:
    last_day: dt.date
    """The latest invoice day of the cleaned rows, returns included."""
    after: pd.Series | None
    """Spend per customer in the :data:`OUT_OF_TIME_DAYS` after the as-of date (customers with
    a purchase line then); None when nobody bought then."""
    check: CheckInputs | None
    """None when the data hold no ``horizon_days`` of purchases after some history."""
    horizon_days: int


def check_day(first: dt.date, last: dt.date, as_of: dt.date, horizon_days: int) -> dt.date | None:
    """The day the forecast check fits on: the latest whose next ``horizon_days`` the data hold,
    never after ``as_of``; None when that is not after the first day of data."""
    day = min(as_of, last - dt.timedelta(days=horizon_days))
    return day if day > first else None


def report_inputs(
    clean: pd.DataFrame | None, as_of: dt.date, *, horizon_days: int
) -> ReportInputs | None:
    """:class:`ReportInputs` from cleaned transactions; None without any."""
    if clean is None or clean.empty:
        return None
    days = clean["invoice_date"].to_numpy().astype("datetime64[D]")
    first, last = pd.Timestamp(days.min()).date(), pd.Timestamp(days.max()).date()
    after = purchase_spend(clean, as_of, as_of + dt.timedelta(days=OUT_OF_TIME_DAYS))
    fit_day = check_day(first, last, as_of, horizon_days)
    check = None
    if fit_day is not None:
        summary = ForwardModel().summarize(clean, fit_day)
        known = None
        if fit_day != as_of:
            known = customer_features(clean.loc[days <= np.datetime64(fit_day, "D")], fit_day)
        check = CheckInputs(fit_day=fit_day, horizon_days=horizon_days, rfm=summary,
                            spends=check_spends(clean, fit_day, horizon_days, ForwardModel()),
                            entry_features=known)
    return ReportInputs(last_day=last, after=after if len(after) else None, check=check,
                        horizon_days=horizon_days)
