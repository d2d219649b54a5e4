"""Cluster profiles and the value rule that picks the Insiders cluster."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.columns import FEATURE_COLUMNS


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
