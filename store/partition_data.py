"""What one partition of a scoring run reads, and what its publication reads: the rollup's
figures of the partition's customers (``customer_id % n = p``, :mod:`store.run_inputs`) and
their labels in the previous run; for the publication, the run's report inputs, fingerprint and
cleaning counts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import Connection, text

from store.features_sql import rollup_features
from store.results import load_labels
from store.run_data import report_inputs
from store.run_inputs import (
    Partition,
    rollup_cleaning,
    rollup_day_range,
    rollup_guest_range,
    rollup_rfm,
    run_fingerprint,
)


@dataclass
class PartitionData:
    features: pd.DataFrame
    rfm: pd.DataFrame
    previous: pd.DataFrame | None
    guest_id_range: tuple[int, int] | None = None


@dataclass
class PublishData:
    fingerprint: str
    report: object | None = None
    cleaning: dict = field(default_factory=dict)
    guest_id_range: tuple[int, int] | None = None


def count_customers(connection: Connection, as_of: dt.date) -> int:
    """About how many customers a run as of ``as_of`` has (those with a day in the rollup)."""
    return int(connection.execute(
        text("SELECT COUNT(DISTINCT customer_id) FROM customer_days WHERE day <= :as_of"),
        {"as_of": as_of},
    ).scalar_one())


def partition_data(connection: Connection, as_of: dt.date, part: Partition, *,
                   previous_run_id: int | None) -> PartitionData:
    """Everything partition ``part`` of a run as of ``as_of`` scores from."""
    previous = None
    if previous_run_id is not None:
        previous = load_labels(connection, previous_run_id, partition=part)
    return PartitionData(features=rollup_features(connection, as_of, partition=part),
                         rfm=rollup_rfm(connection, as_of, part), previous=previous,
                         guest_id_range=rollup_guest_range(connection))


def publish_data(connection: Connection, as_of: dt.date, *, horizon_days: int) -> PublishData:
    """What the publication of a run as of ``as_of`` reads besides its labels."""
    span = rollup_day_range(connection)
    report = None if span is None else report_inputs(connection, as_of, span, horizon_days)
    return PublishData(fingerprint=run_fingerprint(connection, as_of), report=report,
                       cleaning=rollup_cleaning(connection),
                       guest_id_range=rollup_guest_range(connection))
