"""Two runs compared through their customer index: every customer's cluster and Insiders flag,
sorted by customer id.

A million customers' index is a few megabytes, so comparing two runs this way costs
milliseconds where joining their labels in the database costs seconds. A customer missing from
a run counts as not an Insider there, as everywhere else in the product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_ABSENT = np.iinfo(np.int64).min  # cluster before of a customer the older run does not have


@dataclass(frozen=True)
class CustomerIndex:
    """A run's customers by ascending id, with their cluster and Insiders flag."""

    customer_id: np.ndarray  # int64, ascending, unique
    cluster: np.ndarray  # int64
    is_insiders: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.customer_id)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, customer: str = "customer_id",
                   cluster: str = "cluster", flag: str = "is_insiders") -> CustomerIndex:
        """The index of labels with ``customer``, ``cluster`` and ``flag`` columns."""
        ids = frame[customer].to_numpy(dtype="int64")
        order = np.argsort(ids, kind="stable")
        return cls(customer_id=ids[order],
                   cluster=frame[cluster].to_numpy(dtype="int64")[order],
                   is_insiders=frame[flag].to_numpy(dtype=bool)[order])


def positions(older: CustomerIndex, newer: CustomerIndex) -> np.ndarray:
    """For each customer of ``newer``, their position in ``older``, or -1 if absent there."""
    if not len(older):
        return np.full(len(newer), -1, dtype="int64")
    at = np.minimum(np.searchsorted(older.customer_id, newer.customer_id), len(older) - 1)
    return np.where(older.customer_id[at] == newer.customer_id, at, -1)


def moved(older: CustomerIndex, newer: CustomerIndex) -> tuple[np.ndarray, np.ndarray]:
    """(entered, exited): ids of the customers Insiders in ``newer`` and not in ``older``, and
    the other way round, each ascending."""
    at = positions(older, newer)
    known = at >= 0
    was = np.zeros(len(newer), dtype=bool)
    was[known] = older.is_insiders[at[known]]
    stays = np.zeros(len(older), dtype=bool)
    stays[at[known]] = newer.is_insiders[known]
    entered = newer.customer_id[newer.is_insiders & ~was]
    exited = older.customer_id[older.is_insiders & ~stays]
    return entered, exited


def transitions(older: CustomerIndex, newer: CustomerIndex) -> pd.DataFrame:
    """Customers of ``newer`` per (``cluster_before``, ``cluster_after``), ``cluster_before``
    missing (NaN) for the customers ``older`` does not have."""
    at = positions(older, newer)
    known = at >= 0
    before = np.full(len(newer), _ABSENT, dtype="int64")
    before[known] = older.cluster[at[known]]
    # counted by hashing (np.unique over rows sorts them: a second at a million customers)
    frame = (pd.DataFrame({"cluster_before": before, "cluster_after": newer.cluster})
             .value_counts(sort=False).rename("customers").reset_index())
    absent = frame["cluster_before"] == _ABSENT
    if absent.any():
        frame["cluster_before"] = frame["cluster_before"].astype("float64").mask(absent)
    return frame
