"""Everything a run reads of the data, as per-customer figures: features, the RFM summary of
the forward model, the report's spends, a fingerprint and the cleaning's counts.

The worker reads them from the database's daily rollup (:func:`store.run_data.load_run_data`)
and never loads a transaction; ``insiders segment`` computes the same figures from a file's
cleaned transactions here (:func:`run_data_from_clean`), and :func:`pipeline.run.run_segmentation`
takes either.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from pipeline.clean import CleanResult
from pipeline.features import customer_features
from pipeline.forecast import ForwardModel
from pipeline.report_inputs import ReportInputs, report_inputs


@dataclass
class FitSample:
    """The customers a new model version is fitted on, drawn (for example by the database,
    :mod:`store.fit_sample`) by :func:`pipeline.segment.fit_sample`'s rule (at most
    ``max_customers``, seeded with ``random_state``) from ``drawn_from`` customers: their
    features and RFM summary."""

    features: pd.DataFrame
    rfm: pd.DataFrame
    random_state: int
    max_customers: int
    drawn_from: int


@dataclass
class RunData:
    """A run's data as of ``as_of``."""

    as_of: dt.date
    features: pd.DataFrame
    """:func:`pipeline.features.customer_features` as of ``as_of`` (index customer_id)."""
    rfm: pd.DataFrame
    """The forward model's RFM summary as of ``as_of`` of every customer with a purchase,
    guests included (:meth:`pipeline.forecast.ForwardModel.summarize`)."""
    report: ReportInputs | None
    """The out-of-time checks' figures; None when there is no cleaned row at all."""
    fingerprint: str
    guest_id_range: tuple[int, int] | None = None
    cleaning: dict = field(default_factory=dict)
    """Rows the cleaning profile dropped, by reason."""
    n_transactions: int = 0
    fit_sample: FitSample | None = None
    """A refit's fitting sample when it was drawn beforehand (above ``MAX_FIT_CUSTOMERS``);
    None: a refit draws it from ``features``."""


def run_data_from_clean(
    cleaned: CleanResult,
    as_of: dt.date,
    *,
    fingerprint: str,
    horizon_days: int,
    n_transactions: int | None = None,
) -> RunData:
    """:class:`RunData` computed from cleaned transactions (the CLI's files)."""
    clean = cleaned.transactions
    return RunData(
        as_of=as_of,
        features=customer_features(clean, as_of),
        rfm=ForwardModel().summarize(clean, as_of),
        report=report_inputs(clean, as_of, horizon_days=horizon_days),
        fingerprint=fingerprint,
        guest_id_range=cleaned.guest_id_range,
        cleaning=dict(cleaned.dropped_by_reason),
        n_transactions=len(clean) + cleaned.n_dropped if n_transactions is None
        else n_transactions,
    )
