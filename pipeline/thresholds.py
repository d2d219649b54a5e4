"""Entry and exit thresholds of a model version: read off its Insiders cluster, calibrated so
the group keeps its character, and moved between versions in bounded steps.

This is the one rule for who the Insiders are; membership (:mod:`pipeline.membership`) applies
it with hysteresis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.columns import INTEGER_RULE_FEATURES
from pipeline.conditions import LOWER_IS_BETTER, levels, make_thresholds, meets_entry
from pipeline.errors import PipelineInputError
from pipeline.membership import assign_membership


@dataclass(frozen=True)
class ThresholdPolicy:
    """How a refit turns its Insiders cluster into entry and exit levels.

    Entry levels come from the cluster (median revenue, a low quantile of invoices, a high
    quantile of recency); the revenue level is then moved, if needed, into the range where the
    customers meeting every entry level are ``share_range`` of all customers and carry at least
    ``min_revenue_share`` of revenue. A refit moves anyone's membership only when the group
    would otherwise leave ``group_range`` or ``min_revenue_share``. ``gap`` is the relative
    distance of each exit level from its entry level (recency: exit = entry x (1 + gap)).
    """

    share_range: tuple[float, float] = (0.06, 0.10)
    group_range: tuple[float, float] = (0.06, 0.14)
    min_revenue_share: float = 0.45
    invoice_quantile: float = 0.25
    min_invoices: int = 2
    recency_quantile: float = 0.75
    recency_bounds: tuple[int, int] = (30, 90)
    gap: dict[str, float] = field(
        default_factory=lambda: {"gross_revenue": 0.3, "invoice_quantity": 0.3, "recency_days": 1.0}
    )



def has_character(
    features: pd.DataFrame, membership: pd.Series, policy: ThresholdPolicy | None = None
) -> bool:
    """Is the group the share of customers and of revenue that Insiders are meant to be?"""
    policy = policy or ThresholdPolicy()
    member = membership.reindex(features.index).fillna(False).to_numpy(dtype=bool)
    revenue = features["gross_revenue"].to_numpy(dtype=float)
    share = member.mean() if len(member) else 0.0
    revenue_share = revenue[member].sum() / revenue.sum() if revenue.sum() > 0 else 0.0
    lo, hi = policy.group_range
    return bool(lo <= share <= hi and revenue_share >= policy.min_revenue_share)


def derive_thresholds(
    features: pd.DataFrame, insiders: pd.Series | np.ndarray, policy: ThresholdPolicy | None = None
) -> dict:
    """Entry and exit levels from the fitted Insiders cluster (``insiders``: boolean mask)."""
    policy = policy or ThresholdPolicy()
    entry, _ = entry_targets(features, insiders, policy)
    return make_thresholds(entry, exit_levels(entry, policy.gap))


def entry_targets(
    features: pd.DataFrame, insiders: pd.Series | np.ndarray, policy: ThresholdPolicy
) -> tuple[dict[str, float], float]:
    """The entry levels a refit aims at, and the cluster's own (uncalibrated) revenue level.

    If the cluster's invoice and recency levels leave too little revenue to the group, they are
    relaxed toward their loosest allowed values until it can carry its share.
    """
    entry = cluster_levels(features, insiders, policy)
    for relaxed in (
        {},
        {"recency_days": policy.recency_bounds[1]},
        {"recency_days": policy.recency_bounds[1], "invoice_quantity": policy.min_invoices},
    ):
        target = {**entry, **relaxed}
        target["gross_revenue"] = calibrate_revenue(
            features, entry["gross_revenue"], target["invoice_quantity"],
            target["recency_days"], policy,
        )
        if has_character(features, meets_entry(features, make_thresholds(target, target)),
                         policy):
            break
    return target, entry["gross_revenue"]


def cluster_levels(
    features: pd.DataFrame, insiders: pd.Series | np.ndarray, policy: ThresholdPolicy
) -> dict[str, float]:
    """Uncalibrated entry levels read off the Insiders cluster: its median revenue, a low
    quantile of its invoice counts and a high quantile of its recency (within bounds)."""
    members = features.loc[np.asarray(insiders, dtype=bool)]
    if members.empty:
        raise PipelineInputError("cannot derive thresholds: the Insiders cluster is empty")
    invoices = math.ceil(members["invoice_quantity"].quantile(policy.invoice_quantile))
    recency = round(members["recency_days"].quantile(policy.recency_quantile))
    low, high = policy.recency_bounds
    return {
        "gross_revenue": round(float(members["gross_revenue"].median()), 2),
        "invoice_quantity": max(policy.min_invoices, invoices),
        "recency_days": int(np.clip(recency, low, high)),
    }


def calibrate_revenue(
    features: pd.DataFrame, revenue: float, invoices: int, recency: int, policy: ThresholdPolicy
) -> float:
    """Move ``revenue`` into the range where the entry group has the required share of customers
    and of revenue (the range closest to satisfying both when none does)."""
    n = len(features)
    eligible = (features["invoice_quantity"] >= invoices) & (features["recency_days"] <= recency)
    ranked = np.sort(features.loc[eligible, "gross_revenue"].to_numpy())[::-1]
    if ranked.size == 0:
        return revenue
    total = float(features["gross_revenue"].sum())
    revenue_share = np.cumsum(ranked) / total if total > 0 else np.ones(ranked.size)
    lo, hi = policy.share_range
    # entry group size k (top k eligible customers by revenue), 1-based
    k_max = max(1, min(ranked.size, math.floor(hi * n)))
    k_min = min(k_max, max(1, math.ceil(lo * n)))
    enough = np.flatnonzero(revenue_share >= policy.min_revenue_share)
    k_min = min(k_max, max(k_min, int(enough[0]) + 1)) if enough.size else k_max
    return round(float(np.clip(revenue, ranked[k_max - 1], ranked[k_min - 1])), 2)


def exit_levels(entry: dict[str, float], gap: dict[str, float]) -> dict[str, float]:
    """Exit levels a relative ``gap`` below each entry level (above it for recency)."""
    levels = {}
    for column, value in entry.items():
        lower = column in LOWER_IS_BETTER
        level = value * (1 + gap[column]) if lower else value * (1 - gap[column])
        if column in INTEGER_RULE_FEATURES:
            # whole units, rounded away from the entry level so the gap is never narrower
            levels[column] = math.ceil(level) if lower else math.floor(level)
        else:
            levels[column] = round(level, 2)
    return levels



@dataclass(frozen=True)
class SmoothingPolicy:
    """How far a refit may move each threshold from the previous version's value.

    A move that cannot change anyone's membership (a stricter entry level, a looser exit level)
    may go up to ``max_free_step`` of the old value; a move that can (a looser entry level, a
    stricter exit level) at most ``max_step``. Relative changes within ``dead_band`` are ignored,
    so a refit on nearly the same data keeps the thresholds exactly.
    """

    dead_band: float = 0.10
    max_step: float = 0.05
    max_free_step: float = 0.25


def next_thresholds(
    features: pd.DataFrame,
    insiders: pd.Series | np.ndarray,
    previous: dict | None,
    membership: pd.Series | None = None,
    policy: ThresholdPolicy | None = None,
    smoothing: SmoothingPolicy | None = None,
) -> dict:
    """The thresholds of a new model version: read off its Insiders cluster and approached from
    the previous version's in bounded steps.

    Moves that change nobody's membership are always taken; moves that would (a looser entry
    level, a stricter exit level) only when, without them, the group (``membership``: the
    previous membership, None for none) would lose its character (:func:`has_character`).
    """
    policy = policy or ThresholdPolicy()
    if previous is None:
        return derive_thresholds(features, insiders, policy)
    smoothing = smoothing or SmoothingPolicy()
    moved = _bounded_move(features, insiders, previous, policy, smoothing)
    quiet = _bounded_move(features, insiders, previous, policy, smoothing, quiet=True)
    if has_character(features, assign_membership(features, quiet, membership), policy):
        return quiet
    return moved


def _bounded_move(
    features: pd.DataFrame,
    insiders: pd.Series | np.ndarray,
    previous: dict,
    policy: ThresholdPolicy,
    smoothing: SmoothingPolicy,
    *,
    quiet: bool = False,
) -> dict:
    """Every level moved toward its target (``quiet``: only the moves that move nobody). The
    revenue level is calibrated under the invoice and recency levels adopted."""
    old_entry, old_exit = levels(previous, "entry"), levels(previous, "exit")
    target, cluster_revenue = entry_targets(features, insiders, policy)
    entry = {c: step(c, "entry", old_entry[c], target[c], smoothing, quiet=quiet)
             for c in ("invoice_quantity", "recency_days")}
    revenue = calibrate_revenue(
        features, cluster_revenue, entry["invoice_quantity"], entry["recency_days"], policy
    )
    entry = {"gross_revenue": step("gross_revenue", "entry", old_entry["gross_revenue"], revenue,
                                   smoothing, quiet=quiet), **entry}
    widest = exit_levels(entry, policy.gap)
    exit_ = {}
    for column, value in widest.items():
        moved = step(column, "exit", old_exit[column], value, smoothing, quiet=quiet)
        pick = max if column in LOWER_IS_BETTER else min
        exit_[column] = pick(moved, value)
    return make_thresholds(entry, exit_)


def step(
    column: str, side: str, old: float, new: float, policy: SmoothingPolicy, *, quiet: bool = False
) -> float:
    """Move one level from ``old`` toward ``new`` (see :class:`SmoothingPolicy`); ``quiet``
    keeps ``old`` where the move would change someone's membership."""
    scale = abs(old) if old else 1.0
    change = new - old
    if abs(change) <= policy.dead_band * scale:
        return old
    direction = 1 if change > 0 else -1
    # up moves nobody for an entry level of a higher-is-better feature and for an exit level of
    # a lower-is-better one (recency); down moves nobody for the other two
    free_up = (side == "entry") != (column in LOWER_IS_BETTER)
    free = (direction == 1) == free_up
    if quiet and not free:
        return old
    bound = policy.max_free_step if free else policy.max_step
    distance = min(abs(change), bound * scale)
    if column in INTEGER_RULE_FEATURES:
        # whole units; a free move goes at least one unit, a move that shifts people never
        # goes past its bound
        distance = max(1, math.floor(distance)) if free else math.floor(distance)
        return old + direction * min(distance, math.ceil(abs(change)))
    return round(old + direction * distance, 2)
