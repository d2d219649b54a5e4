"""Insiders membership with hysteresis, the thresholds it uses, and why anyone entered or left.

Thresholds are plain data (the format of :mod:`pipeline.insiders`), kept with a model version::

    {"entry": {"gross_revenue": {"op": ">=", "value": 2310.0},
               "invoice_quantity": {"op": ">=", "value": 4},
               "recency_days": {"op": "<=", "value": 60}},
     "exit":  {"gross_revenue": {"op": "<", "value": 1617.0},
               "invoice_quantity": {"op": "<", "value": 3},
               "recency_days": {"op": ">", "value": 120}}}

A customer who is not an Insider enters when every entry comparison holds; an Insider leaves when
any exit comparison holds. Exit levels sit a gap below (recency: above) the entry levels, so a
customer near a boundary does not flip from run to run. Membership depends only on the customer's
own features, the thresholds and the customer's own previous membership.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.errors import PipelineInputError
from pipeline.insiders import LOWER_IS_BETTER, OPERATORS, meets_entry, meets_exit

RULE_FEATURES: tuple[str, ...] = ("gross_revenue", "invoice_quantity", "recency_days")
INTEGER_FEATURES: frozenset[str] = frozenset({"invoice_quantity", "recency_days"})
EVENT_COLUMNS: tuple[str, ...] = ("customer_id", "kind", "cause", "reason", "details")


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
        if column in INTEGER_FEATURES:
            # whole units, rounded away from the entry level so the gap is never narrower
            levels[column] = math.ceil(level) if lower else math.floor(level)
        else:
            levels[column] = round(level, 2)
    return levels


def make_thresholds(entry: dict[str, float], exit_: dict[str, float]) -> dict:
    """The thresholds dict from entry and exit levels of the rule features."""
    return {
        "entry": {c: {"op": "<=" if c in LOWER_IS_BETTER else ">=", "value": _tidy(c, v)}
                  for c, v in entry.items()},
        "exit": {c: {"op": ">" if c in LOWER_IS_BETTER else "<", "value": _tidy(c, v)}
                 for c, v in exit_.items()},
    }


def levels(thresholds: dict, side: str) -> dict[str, float]:
    """``{feature: value}`` of one side ("entry" or "exit") of ``thresholds``."""
    return {column: rule["value"] for column, rule in thresholds[side].items()}


def _tidy(column: str, value: float) -> float | int:
    if column in INTEGER_FEATURES:
        return round(value)
    return round(float(value), 2)


def membership_events(
    features: pd.DataFrame,
    membership: pd.Series,
    previous: pd.DataFrame | None,
    thresholds: dict,
    *,
    old_thresholds: dict | None,
    version: int,
) -> pd.DataFrame:
    """Every entry and exit since ``previous`` (labels with ``is_insiders`` and, for before
    values, the rule features), with its cause and a readable reason.

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
            kind, cause, subject.iloc[i], before.iloc[i], thresholds, old_thresholds, version
        )
        rows.append((int(customer), kind, cause, reason, details))
    return pd.DataFrame(rows, columns=list(EVENT_COLUMNS))


def _crossed_with(subject: pd.DataFrame, entered: np.ndarray, old: dict | None) -> np.ndarray:
    """Would the change also have happened under the old levels (so the customer caused it)?"""
    if old is None:
        return np.zeros(len(subject), dtype=bool)
    return np.where(entered, meets_entry(subject, old), meets_exit(subject, old))


def explain(
    kind: str,
    cause: str,
    after: pd.Series,
    before: pd.Series,
    thresholds: dict,
    old_thresholds: dict | None,
    version: int,
) -> tuple[str, dict]:
    """The reason sentence and JSON-safe details of one entry or exit."""
    side = "entry" if kind == "entered" else "exit"
    if cause == "model_update":
        conditions = _model_conditions(side, after, before, thresholds, old_thresholds)
        verb = "changed" if old_thresholds is not None else "set"
        changes = "; ".join(_threshold_change(c) for c in conditions)
        reason = f"model version {version} {verb} the thresholds: {changes}"
    else:
        conditions = _feature_conditions(side, after, before, thresholds)
        if cause == "new_customer":
            reason = "new customer meeting every entry level: " + "; ".join(
                _state(c) for c in conditions)
        else:
            reason = "; ".join(_crossing(c, side) for c in conditions)
    first = conditions[0]
    details = {
        "feature": first["feature"],
        "op": first["op"],
        "threshold": first["threshold"],
        "before": first["before"],
        "after": first["after"],
        "model_version": int(version),
        "conditions": conditions,
    }
    return reason, details


def _condition(column: str, rule: dict, after: pd.Series, before: pd.Series) -> dict:
    return {
        "feature": column,
        "op": rule["op"],
        "threshold": _plain(rule["value"]),
        "before": _plain(before.get(column)),
        "after": _plain(after[column]),
    }


def _holds(rule: dict, value: object) -> bool:
    return value is not None and bool(OPERATORS[rule["op"]](value, rule["value"]))


def _feature_conditions(side: str, after: pd.Series, before: pd.Series, thresholds: dict) -> list:
    """The levels the customer's own values crossed (all levels that hold when none did)."""
    rules = thresholds[side]
    holding = [c for c, rule in rules.items() if _holds(rule, _plain(after[c]))]
    crossed = [c for c in holding if not _holds(rules[c], _plain(before.get(c)))]
    return [_condition(c, rules[c], after, before) for c in (crossed or holding or list(rules))]


def _model_conditions(
    side: str, after: pd.Series, before: pd.Series, thresholds: dict, old: dict | None
) -> list:
    """The levels whose change decided the customer's move (all changed levels if none alone)."""
    rules = thresholds[side]
    if old is None:
        chosen = list(rules)
    else:
        value = {c: _plain(after[c]) for c in rules}
        moved = [c for c in rules if _holds(rules[c], value[c]) != _holds(old[side][c], value[c])]
        changed = [c for c in rules if rules[c]["value"] != old[side][c]["value"]]
        chosen = moved or changed or list(rules)
    conditions = []
    for column in chosen:
        condition = _condition(column, rules[column], after, before)
        condition["side"] = side
        condition["old_threshold"] = None if old is None else _plain(old[side][column]["value"])
        conditions.append(condition)
    return conditions


def _crossing(c: dict, side: str) -> str:
    name, after, before = c["feature"], _fmt(c["feature"], c["after"]), c["before"]
    level = f"the {side} level {c['op']} {_fmt(name, c['threshold'])}"
    if before is None:
        return f"{name} is {after}, meeting {level}"
    if c["after"] == before:
        return f"{name} stayed at {after}, meeting {level}"
    verb = "rose" if c["after"] > before else "fell"
    return f"{name} {verb} from {_fmt(name, before)} to {after}, crossing {level}"


def _state(c: dict) -> str:
    name = c["feature"]
    return f"{name} {_fmt(name, c['after'])} {c['op']} {_fmt(name, c['threshold'])}"


def _threshold_change(c: dict) -> str:
    name = c["feature"]
    new = _fmt(name, c["threshold"])
    old = "none" if c["old_threshold"] is None else _fmt(name, c["old_threshold"])
    return f"{name} {c['side']} {old} -> {new} (customer at {_fmt(name, c['after'])})"


def _fmt(column: str, value: object) -> str:
    if value is None:
        return "n/a"
    if column in INTEGER_FEATURES and float(value).is_integer():
        return f"{int(value):,}"
    return f"{float(value):,.2f}"


def _plain(value: object) -> float | int | None:
    """A JSON-safe number (None for missing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    number = float(value)
    if math.isnan(number):
        return None
    return int(number) if number.is_integer() else number
