"""A run's :class:`pipeline.run_data.RunData` read from the daily rollup: features, the RFM
summary, the report's spends, the fingerprint and the cleaning's counts, without reading a
transaction (:mod:`store.features_sql`, :mod:`store.run_inputs`).

``partition=(p, n)`` reads only the customers whose id modulo n is p (one partition of a
partitioned scoring run); ``report=False`` leaves out the report's figures, which a run needs
once over every customer rather than per partition; ``fit_sample_seed`` also reads a refit's
fitting sample, drawn by the database (:mod:`store.fit_sample`).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Connection

from pipeline.forecast_check import CheckSpends
from pipeline.report_inputs import OUT_OF_TIME_DAYS, CheckInputs, ReportInputs, check_day
from pipeline.run_data import RunData
from pipeline.segment import MAX_FIT_CUSTOMERS
from store.features_sql import rollup_features
from store.fit_sample import load_fit_sample
from store.run_inputs import (
    Partition,
    rollup_cleaning,
    rollup_day_range,
    rollup_guest_range,
    rollup_rfm,
    rollup_spend,
    run_fingerprint,
    stored_totals,
)


def load_run_data(
    connection: Connection,
    as_of: dt.date,
    *,
    horizon_days: int,
    partition: Partition | None = None,
    report: bool = True,
    fit_sample_seed: int | None = None,
    max_fit_customers: int = MAX_FIT_CUSTOMERS,
    scoring: bool = True,
) -> RunData:
    """The figures a run as of ``as_of`` reads (raises ``store.features_sql.RollupNotReady``
    when the rollup does not hold every stored batch); with ``fit_sample_seed``, a refit's
    sample of ``max_fit_customers`` drawn with it, when there are more customers.
    ``scoring=False``: only what fitting a model version on that sample reads (no RFM summary
    of every customer, no report figures; ``rfm`` is empty)."""
    features = rollup_features(connection, as_of, partition)
    span = rollup_day_range(connection)
    inputs = None
    if report and scoring and span is not None:
        inputs = report_inputs(connection, as_of, span, horizon_days, partition)
    n_rows, _last = stored_totals(connection)
    return RunData(
        as_of=as_of,
        features=features,
        rfm=rollup_rfm(connection, as_of, partition) if scoring else pd.DataFrame(),
        report=inputs,
        fingerprint=run_fingerprint(connection, as_of),
        guest_id_range=rollup_guest_range(connection),
        cleaning=rollup_cleaning(connection),
        n_transactions=n_rows,
        fit_sample=None if fit_sample_seed is None else load_fit_sample(
            connection, as_of, random_state=fit_sample_seed, max_customers=max_fit_customers),
    )


def report_inputs(
    connection: Connection,
    as_of: dt.date,
    span: tuple[dt.date, dt.date],
    horizon_days: int,
    partition: Partition | None = None,
    *,
    check_sample: tuple[int, int] | None = None,
) -> ReportInputs:
    """:func:`pipeline.report_inputs.report_inputs` from the rollup (``span``: its first and
    last day); ``check_sample`` (k, n): the forecast check's figures of every k-th customer id
    of the n (with no ``partition``)."""
    first, last = span
    after = rollup_spend(connection, as_of, as_of + dt.timedelta(days=OUT_OF_TIME_DAYS),
                         partition)
    fit_day = check_day(first, last, as_of, horizon_days)
    check = None
    if fit_day is not None:
        sample = check_sample if partition is None else None
        part = partition if sample is None else (0, sample[0])
        horizon = dt.timedelta(days=horizon_days)
        spends = CheckSpends(
            recent=rollup_spend(connection, fit_day - horizon, fit_day, part),
            actual=rollup_spend(connection, fit_day, fit_day + horizon, part),
            lifetime=rollup_spend(connection, None, fit_day, part),
        )
        check = CheckInputs(
            fit_day=fit_day, horizon_days=horizon_days,
            rfm=rollup_rfm(connection, fit_day, part), spends=spends,
            entry_features=None if fit_day == as_of
            else rollup_features(connection, fit_day, part),
            sample=sample,
        )
    return ReportInputs(last_day=last, after=after if len(after) else None, check=check,
                        horizon_days=horizon_days)
