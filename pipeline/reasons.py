"""Why a customer entered or left the Insiders: the reason sentence and its details."""

from __future__ import annotations

import pandas as pd

from pipeline.columns import INTEGER_RULE_FEATURES
from pipeline.conditions import OPERATORS
from pipeline.plain import plain_value


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
        "threshold": plain_value(rule["value"]),
        "before": plain_value(before.get(column)),
        "after": plain_value(after[column]),
    }


def _holds(rule: dict, value: object) -> bool:
    return value is not None and bool(OPERATORS[rule["op"]](value, rule["value"]))


def _feature_conditions(side: str, after: pd.Series, before: pd.Series, thresholds: dict) -> list:
    """The levels the customer's own values crossed (all levels that hold when none did)."""
    rules = thresholds[side]
    holding = [c for c, rule in rules.items() if _holds(rule, plain_value(after[c]))]
    crossed = [c for c in holding if not _holds(rules[c], plain_value(before.get(c)))]
    return [_condition(c, rules[c], after, before) for c in (crossed or holding or list(rules))]


def _model_conditions(
    side: str, after: pd.Series, before: pd.Series, thresholds: dict, old: dict | None
) -> list:
    """The levels whose change decided the customer's move (all changed levels if none alone)."""
    rules = thresholds[side]
    if old is None:
        chosen = list(rules)
    else:
        value = {c: plain_value(after[c]) for c in rules}
        moved = [c for c in rules if _holds(rules[c], value[c]) != _holds(old[side][c], value[c])]
        changed = [c for c in rules if rules[c]["value"] != old[side][c]["value"]]
        chosen = moved or changed or list(rules)
    conditions = []
    for column in chosen:
        condition = _condition(column, rules[column], after, before)
        condition["side"] = side
        old_level = None if old is None else old[side][column]["value"]
        condition["old_threshold"] = plain_value(old_level)
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
    if column in INTEGER_RULE_FEATURES and float(value).is_integer():
        return f"{int(value):,}"
    return f"{float(value):,.2f}"

