"""Insiders membership with hysteresis, and the events of who entered or left.

A customer who is not an Insider enters when every entry comparison holds; an Insider leaves when
any exit comparison holds (thresholds: see :mod:`pipeline.conditions`). Exit levels sit a gap
below (recency: above) the entry levels, so a customer near a boundary does not flip from run to
run. Membership depends only on the customer's own features, the thresholds and the customer's
own previous membership.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.conditions import meets_entry, meets_exit
from pipeline.reasons import explain

EVENT_COLUMNS: tuple[str, ...] = ("customer_id", "kind", "cause", "reason", "details")


def assign_membership(
    features: pd.DataFrame, thresholds: dict, previous: pd.Series | None = None
) -> pd.Series:
    """Who is an Insider now: members stay until an exit level is crossed, others (and customers
    missing from ``previous``) join when every entry level is met."""
    entry = meets_entry(features, thresholds).to_numpy()
    if previous is None:
        return pd.Series(entry, index=features.index, name="is_insiders")
    was = previous.reindex(features.index).fillna(False).to_numpy(dtype=bool)
    stay = ~meets_exit(features, thresholds).to_numpy()
    return pd.Series(np.where(was, stay, entry), index=features.index, name="is_insiders")



def membership_events(
    features: pd.DataFrame,
    membership: pd.Series,
    previous: pd.DataFrame | None,
    thresholds: dict,
    *,
    old_thresholds: dict | None,
    version: int,
    currency: str = "£",
) -> pd.DataFrame:
    """Every entry and exit since ``previous`` (labels with ``is_insiders`` and, for before
    values, the rule features), with its cause and a readable reason (money in ``currency``).

    Cause: "new_customer" for a customer absent from ``previous``; "feature" when the customer's
    own change crosses the levels that were in force before (``old_thresholds``);
    "model_update" when only the new levels of model version ``version`` make the difference.
    """
    if previous is None:
        return pd.DataFrame(columns=list(EVENT_COLUMNS))
    known = features.index.isin(previous.index)
    was = previous["is_insiders"].reindex(features.index).fillna(False).to_numpy(dtype=bool)
    now = membership.reindex(features.index).to_numpy(dtype=bool)
    changed = (was != now) & (known | now)
    if not changed.any():
        return pd.DataFrame(columns=list(EVENT_COLUMNS))
    subject = features.loc[changed]
    before = previous.reindex(subject.index)
    entered = now[changed]
    by_feature = _crossed_with(subject, entered, old_thresholds)
    rows = []
    for i, customer in enumerate(subject.index):
        kind = "entered" if entered[i] else "exited"
        if not known[changed][i]:
            cause = "new_customer"
        elif by_feature[i]:
            cause = "feature"
        else:
            cause = "model_update"
        reason, details = explain(
            kind, cause, subject.iloc[i], before.iloc[i], thresholds, old_thresholds, version,
            currency,
        )
        rows.append((int(customer), kind, cause, reason, details))
    return pd.DataFrame(rows, columns=list(EVENT_COLUMNS))


def _crossed_with(subject: pd.DataFrame, entered: np.ndarray, old: dict | None) -> np.ndarray:
    """Would the change also have happened under the old levels (so the customer caused it)?"""
    if old is None:
        return np.zeros(len(subject), dtype=bool)
    return np.where(entered, meets_entry(subject, old), meets_exit(subject, old))
