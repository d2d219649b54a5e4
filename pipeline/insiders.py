"""Who the Insiders are: cluster profiles, the Insiders cluster, entry and exit thresholds.

Thresholds are plain data so they can be stored with a model version::

    {"entry": {"gross_revenue": {"op": ">=", "value": 1234.5}, "recency_days": {"op": "<=", ...}},
     "exit":  {"gross_revenue": {"op": "<", "value": 10.0}, "recency_days": {"op": ">", ...}}}

A customer meets the entry condition when every entry comparison holds, and the exit condition
when any exit comparison holds.
"""

from __future__ import annotations

import operator

import numpy as np
import pandas as pd

from pipeline.columns import FEATURE_COLUMNS
from pipeline.errors import PipelineInputError

LOWER_IS_BETTER: frozenset[str] = frozenset({"recency_days"})
"""Features where a smaller value is better (recent buyers); their comparisons are reversed."""

OPERATORS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


def cluster_profiles(features: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """Per cluster: size, share of customers, mean of each feature, share of revenue."""
    frame = features.loc[:, list(FEATURE_COLUMNS)].assign(cluster=np.asarray(labels))
    grouped = frame.groupby("cluster", sort=True)
    profiles = grouped[list(FEATURE_COLUMNS)].mean()
    size = grouped.size()
    revenue = grouped["gross_revenue"].sum()
    total_revenue = frame["gross_revenue"].sum()
    profiles.insert(0, "size", size.astype("int64"))
    profiles.insert(1, "share", size / len(frame))
    profiles["revenue_share"] = revenue / total_revenue if total_revenue else np.nan
    return profiles


def insiders_cluster(profiles: pd.DataFrame) -> int:
    """The cluster with the highest mean gross revenue (ties: larger revenue share, then size)."""
    ranked = profiles.sort_values(
        ["gross_revenue", "revenue_share", "size"], ascending=False, kind="stable"
    )
    return int(ranked.index[0])


def derive_thresholds(features: pd.DataFrame, is_insiders: pd.Series | np.ndarray) -> dict:
    """The original rule: enter at or above the Insiders' median on every feature, leave when
    below their minimum on any; for lower-is-better features (recency) enter at or below the
    median and leave when above the maximum."""
    members = features.loc[np.asarray(is_insiders, dtype=bool), list(FEATURE_COLUMNS)]
    if members.empty:
        raise PipelineInputError("cannot derive thresholds: there are no Insiders")
    entry, exit_ = {}, {}
    for column in FEATURE_COLUMNS:
        median = float(members[column].median())
        if column in LOWER_IS_BETTER:
            entry[column] = {"op": "<=", "value": median}
            exit_[column] = {"op": ">", "value": float(members[column].max())}
        else:
            entry[column] = {"op": ">=", "value": median}
            exit_[column] = {"op": "<", "value": float(members[column].min())}
    return {"entry": entry, "exit": exit_}


def condition_table(features: pd.DataFrame, conditions: dict) -> pd.DataFrame:
    """One boolean column per feature: does the customer satisfy that comparison?"""
    return pd.DataFrame(
        {
            column: OPERATORS[rule["op"]](features[column].to_numpy(), rule["value"])
            for column, rule in conditions.items()
        },
        index=features.index,
    )


def meets_entry(features: pd.DataFrame, thresholds: dict) -> pd.Series:
    """True where every entry comparison holds."""
    return condition_table(features, thresholds["entry"]).all(axis=1)


def meets_exit(features: pd.DataFrame, thresholds: dict) -> pd.Series:
    """True where any exit comparison holds."""
    return condition_table(features, thresholds["exit"]).any(axis=1)
