"""The thresholds format and its comparisons.

Thresholds are plain data so they can be stored with a model version::

    {"entry": {"gross_revenue": {"op": ">=", "value": 2310.0},
               "invoice_quantity": {"op": ">=", "value": 4},
               "recency_days": {"op": "<=", "value": 60}},
     "exit":  {"gross_revenue": {"op": "<", "value": 1617.0},
               "invoice_quantity": {"op": "<", "value": 3},
               "recency_days": {"op": ">", "value": 120}}}

A customer meets the entry condition when every entry comparison holds, and the exit condition
when any exit comparison holds.
"""

from __future__ import annotations

import operator

import pandas as pd

from pipeline.columns import INTEGER_RULE_FEATURES

LOWER_IS_BETTER: frozenset[str] = frozenset({"recency_days"})
"""Features where a smaller value is better (recent buyers); their comparisons are reversed."""

OPERATORS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


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
    if column in INTEGER_RULE_FEATURES:
        return round(value)
    return round(float(value), 2)
