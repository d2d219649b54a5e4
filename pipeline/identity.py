"""Cluster identity across refits: stable ids, readable names and colours.

A refit's clusters are matched to the previous version's (Hungarian assignment), so a cluster
keeps its id, name and colour. The cluster of highest mean revenue (the one the Insiders
thresholds are first drawn from) is named "Top spenders". No cluster is called "Insiders":
that word means membership only, and gold marks members, never a cluster.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from pipeline.columns import FEATURE_COLUMNS
from pipeline.profiles import cluster_profiles

TOP_NAME = "Top spenders"
# the name the top cluster carried before membership and clusters were told apart
LEGACY_NAME = "Insiders"
INSIDERS_COLOR = "#d4a017"
# what a legacy gold cluster is shown in (outside PALETTE: it cannot collide with a new one)
LEGACY_TOP_COLOR = "#8c6d31"
PALETTE: tuple[str, ...] = (
    "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#7f7f7f", "#bcbd22", "#ff7f0e", "#d62728", "#aec7e8", "#98df8a",
)


def display_name(name: str | None) -> str | None:
    """A stored cluster name as shown: the legacy "Insiders" reads "Top spenders"."""
    return TOP_NAME if name == LEGACY_NAME else name


def display_color(color: str | None) -> str | None:
    """A stored cluster colour as shown: gold marks Insiders members, never a cluster."""
    return LEGACY_TOP_COLOR if color == INSIDERS_COLOR else color


def profile_names(profile: pd.Series, population: pd.DataFrame) -> list[str]:
    """Readable names for a (non-Insiders) cluster from its mean features relative to all
    customers (how recently, how often and how much they buy), plainest first."""
    if profile["recency_days"] > max(180.0, population["recency_days"].quantile(0.75)):
        habit = "Lapsed"
    elif profile["invoice_quantity"] < 1.5:
        habit = "One-off"
    elif profile["invoice_quantity"] >= population["invoice_quantity"].quantile(0.75):
        habit = "Loyal"
    else:
        habit = "Occasional"
    revenue = profile["gross_revenue"]
    if revenue >= population["gross_revenue"].quantile(0.75):
        spend = "big spenders"
    elif revenue >= population["gross_revenue"].median():
        spend = "mid spenders"
    else:
        spend = "small buyers"
    base = f"{habit} {spend}"
    recent = "recent" if profile["recency_days"] <= population["recency_days"].median() else "older"
    ticket = ("high ticket" if profile["avg_ticket"] >= population["avg_ticket"].median()
              else "low ticket")
    return [base, f"{base}, {recent}", f"{base}, {ticket}", f"{base}, {recent}, {ticket}"]


def _unique(names: list[str], taken: set[str]) -> str:
    for name in names:
        if name not in taken:
            return name
    n = 2
    while f"{names[0]} {n}" in taken:
        n += 1
    return f"{names[0]} {n}"


def _free_color(taken: set[str]) -> str:
    for color in PALETTE:
        if color not in taken:
            return color
    return PALETTE[len(taken) % len(PALETTE)]


def match_clusters(
    new: pd.Series, old: pd.Series | None = None,
    new_profiles: pd.DataFrame | None = None, old_profiles: pd.DataFrame | None = None,
) -> dict[int, int]:
    """Map new cluster labels to old ones (one to one, Hungarian assignment).

    With ``old`` (labels of the customers the old version labelled, index customer_id), the
    assignment maximises the number of shared customers; otherwise it minimises the distance
    between cluster centroids (log-scaled mean features). Pairs sharing nobody stay unmatched.
    """
    if old is not None:
        both = new.index.intersection(old.index)
        if len(both):
            table = pd.crosstab(new.loc[both], old.loc[both])
            rows, cols = linear_sum_assignment(-table.to_numpy())
            return {int(table.index[r]): int(table.columns[c])
                    for r, c in zip(rows, cols, strict=True) if table.iat[r, c] > 0}
    if new_profiles is None or old_profiles is None or old_profiles.empty:
        return {}
    a = np.log1p(new_profiles[list(FEATURE_COLUMNS)].clip(lower=0).to_numpy())
    b = np.log1p(old_profiles[list(FEATURE_COLUMNS)].clip(lower=0).to_numpy())
    cost = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2))
    rows, cols = linear_sum_assignment(cost)
    return {int(new_profiles.index[r]): int(old_profiles.index[c])
            for r, c in zip(rows, cols, strict=True)}


def cluster_identities(
    features: pd.DataFrame,
    labels: np.ndarray,
    insiders_label: int,
    previous: list[dict] | None = None,
    mapping: dict[int, int] | None = None,
    n_components: int | None = None,
) -> list[dict]:
    """One record per model label: stable ``cluster`` id, ``name``, ``color``, ``is_insiders``.

    Components of the model (``n_components``) that no fitted customer fell in get a record too,
    as scoring may place customers there.

    ``previous`` holds the old version's records and ``mapping`` the new labels matched to their
    stable ids; matched clusters inherit id, name and colour. The cluster chosen by the value rule
    (``insiders_label``: highest mean revenue) keeps the identity of the old top cluster ("Top
    spenders"): if another new cluster matched it, the two swap identities.
    """
    profiles = cluster_profiles(features, labels)
    previous = previous or []
    by_id = {int(r["cluster"]): r for r in previous}
    mapping = {k: v for k, v in (mapping or {}).items() if v in by_id}
    old_insiders = next((int(r["cluster"]) for r in previous if r["is_insiders"]), None)
    holder = next((k for k, v in mapping.items() if v == old_insiders), None)
    if holder is not None and holder != insiders_label:
        mapping[holder], mapping[insiders_label] = mapping.get(insiders_label), old_insiders
        if mapping[holder] is None:
            del mapping[holder]
    elif old_insiders is not None and holder is None:
        mapping[insiders_label] = old_insiders
    next_id = max(by_id, default=-1) + 1
    inherited = [by_id[v] for v in mapping.values()]
    names = {TOP_NAME, LEGACY_NAME, *(r["name"] for r in inherited)}
    colors = {INSIDERS_COLOR, *(r["color"] for r in previous)}
    records = []
    order = profiles.sort_values("gross_revenue", ascending=False, kind="stable").index
    for label in order:
        label = int(label)
        record = {"model_cluster": label, "is_insiders": label == insiders_label,
                  "profile": {c: float(profiles.at[label, c]) for c in FEATURE_COLUMNS}}
        if label in mapping:
            old = by_id[mapping[label]]
            record.update(cluster=int(old["cluster"]), name=old["name"], color=old["color"])
        elif previous:
            record["cluster"], next_id = next_id, next_id + 1
        else:
            record["cluster"] = label
        if record["is_insiders"]:
            record["name"] = TOP_NAME
        elif "name" not in record or record["name"] in (TOP_NAME, LEGACY_NAME):
            record["name"] = _unique(profile_names(profiles.loc[label], features), names)
        if record.get("color") in (None, INSIDERS_COLOR):
            record["color"] = _free_color(colors)
        names.add(record["name"])
        colors.add(record["color"])
        records.append(record)
    for label in sorted(set(range(n_components or 0)) - set(profiles.index.astype(int))):
        cluster, next_id = (next_id, next_id + 1) if previous else (label, next_id)
        name = _unique(["Unplaced"], names)
        color = _free_color(colors)
        names.add(name)
        colors.add(color)
        records.append({"model_cluster": label, "is_insiders": False, "profile": {},
                        "cluster": cluster, "name": name, "color": color})
    return sorted(records, key=lambda r: r["cluster"])

