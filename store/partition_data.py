"""What the jobs of a scoring run in partitions read: a range's rollup figures (through the
rollup's (customer_id, day) key, :mod:`store.run_inputs`) and its customers' labels in the
previous run; the forecast check's and the report's inputs; the publication's fingerprint and
cleaning counts; a model version's facts without its artifact."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import Connection, select

from pipeline.report_inputs import OUT_OF_TIME_DAYS, ReportInputs
from store.features_sql import rollup_features
from store.results import load_labels
from store.run_data import report_inputs
from store.run_inputs import (
    Partition,
    rollup_cleaning,
    rollup_customer_count,
    rollup_day_range,
    rollup_guest_range,
    rollup_rfm,
    rollup_spend,
    run_fingerprint,
)
from store.schema import ModelVersion

CHECK_CUSTOMERS = 100_000
"""The forecast check's customers at most (about): its figures (errors, rank correlation, shares
of revenue) are statistics over customers, which 100,000 measure closely; at a million customers
the check of all of them took 16 s of a one-worker scoring run's 82."""


@dataclass
class PartitionData:
    features: pd.DataFrame
    rfm: pd.DataFrame
    previous: pd.DataFrame | None
    guest_id_range: tuple[int, int] | None = None


@dataclass
class PublishData:
    fingerprint: str
    cleaning: dict = field(default_factory=dict)


def partition_data(connection: Connection, as_of: dt.date, part: Partition, *,
                   previous_run_id: int | None) -> PartitionData:
    """Everything partition ``part`` of a run as of ``as_of`` scores from."""
    previous = None
    if previous_run_id is not None:
        previous = load_labels(connection, previous_run_id, partition=part)
    return PartitionData(features=rollup_features(connection, as_of, partition=part),
                         rfm=rollup_rfm(connection, as_of, part), previous=previous,
                         guest_id_range=rollup_guest_range(connection))


def check_inputs(connection: Connection, as_of: dt.date, *, horizon_days: int,
                 max_customers: int = CHECK_CUSTOMERS) -> ReportInputs | None:
    """The report's inputs as one process reads them, the forecast check's of every customer,
    or of every k-th customer id when there are more than ``max_customers`` (k the least that
    keeps about that many)."""
    span = rollup_day_range(connection)
    if span is None:
        return None
    customers = rollup_customer_count(connection)
    every = max(1, math.ceil(customers / max_customers))
    return report_inputs(connection, as_of, span, horizon_days,
                         check_sample=(every, customers) if every > 1 else None)


def report_after(connection: Connection, as_of: dt.date, *,
                 horizon_days: int) -> ReportInputs | None:
    """The report's inputs but the forecast check's (made by a job of its own): what each
    customer spent in the days after ``as_of``."""
    span = rollup_day_range(connection)
    if span is None:
        return None
    after = rollup_spend(connection, as_of, as_of + dt.timedelta(days=OUT_OF_TIME_DAYS))
    return ReportInputs(last_day=span[1], after=after if len(after) else None, check=None,
                        horizon_days=horizon_days)


def publish_data(connection: Connection, as_of: dt.date) -> PublishData:
    """What the publication of a run as of ``as_of`` reads besides its jobs' results."""
    return PublishData(fingerprint=run_fingerprint(connection, as_of),
                       cleaning=rollup_cleaning(connection))


def version_facts(connection: Connection, version: int | None = None):
    """The latest (or given) model version's number, fitting date, stored parameters,
    thresholds, clusters and metrics, read without its artifact; None before the first fit."""
    query = select(ModelVersion.version, ModelVersion.fitted_as_of, ModelVersion.parameters,
                   ModelVersion.thresholds, ModelVersion.clusters, ModelVersion.metrics)
    query = (query.where(ModelVersion.version == version) if version is not None
             else query.order_by(ModelVersion.version.desc()).limit(1))
    return connection.execute(query).first()
