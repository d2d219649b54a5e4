"""Insiders at risk of leaving, and customers about to qualify, from the current features, the
thresholds (:mod:`pipeline.conditions`) and the forecast (:mod:`pipeline.forecast`).

At risk: an Insider who, buying nothing, crosses an exit level within ``within_days`` days, or
whose probability of still being an active customer is below a level. Without a purchase only
recency moves, one day per day, while revenue and purchase counts stay; so the leave date is
exact: the first day on which the exit comparison holds, ``as_of + (level - recency) + 1`` for a
"more than" exit level.

About to qualify: a non-Insider expected to buy at least ``min_expected_purchases`` times in the
next ``within_days`` days whose features, with the expected purchases and spend added (and a fresh
purchase for recency), would meet every entry level.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from pipeline.conditions import OPERATORS, meets_entry

AT_RISK_COLUMNS: tuple[str, ...] = (
    "customer_id", "leave_date", "days_left", "reason", "expected_value", "probability_active",
)
QUALIFY_COLUMNS: tuple[str, ...] = (
    "customer_id", "qualify_by", "reason", "expected_value", "expected_purchases",
)


def days_until_exit(
    features: pd.DataFrame, exit_rules: dict, *, recency_col: str = "recency_days"
) -> pd.Series:
    """Days from the as-of date until the first exit comparison holds if the customer buys
    nothing (0: it holds already); NaN when it never would."""
    days = np.full(len(features), np.nan)
    for column, rule in exit_rules.items():
        value = features[column].to_numpy(dtype=float)
        now = OPERATORS[rule["op"]](value, rule["value"])
        reach = np.where(now, 0.0, np.nan)
        if column == recency_col and rule["op"] in (">", ">="):
            gap = rule["value"] - value
            first = np.floor(gap) + 1 if rule["op"] == ">" else np.ceil(gap)
            reach = np.maximum(first, 0.0)
        days = np.fmin(days, reach)
    return pd.Series(days, index=features.index, name="days_until_exit")


def insiders_at_risk(
    features: pd.DataFrame,
    membership: pd.Series,
    thresholds: dict,
    predictions: pd.DataFrame,
    as_of: dt.date,
    *,
    within_days: int = 30,
    min_probability_active: float | None = 0.5,
    recency_col: str = "recency_days",
) -> pd.DataFrame:
    """Insiders at risk (columns :data:`AT_RISK_COLUMNS`), highest expected value first.

    ``membership``: boolean Series by customer_id; ``predictions``: the forecast's
    probability_active and expected_spend by customer_id (missing customers count as 0 value and
    unknown probability). ``leave_date`` is the day they leave if they buy nothing (empty when
    no exit level would be crossed).
    """
    member = membership.reindex(features.index).fillna(False).to_numpy(dtype=bool)
    insiders = features.loc[member]
    days = days_until_exit(insiders, thresholds["exit"], recency_col=recency_col)
    forecast = predictions.reindex(insiders.index)
    probability = forecast["probability_active"]
    soon = days.le(within_days).to_numpy()
    unlikely = (probability.lt(min_probability_active).to_numpy()
                if min_probability_active is not None else np.zeros(len(insiders), dtype=bool))
    chosen = np.flatnonzero(soon | unlikely)
    left = days.to_numpy()[chosen]
    chance = probability.to_numpy(dtype=float)[chosen]
    recency = (insiders[recency_col].to_numpy()[chosen] if recency_col in insiders
               else np.zeros(len(chosen)))
    rows = []
    for i, customer in enumerate(insiders.index[chosen]):
        leave = None if np.isnan(left[i]) else as_of + dt.timedelta(days=int(left[i]))
        parts = []
        if leave is not None:
            parts.append(_leave_sentence(int(recency[i]), thresholds["exit"].get(recency_col),
                                         leave, as_of))
        if unlikely[chosen[i]]:
            parts.append(f"the chance they are still an active customer is "
                         f"{chance[i]:.0%}, below {min_probability_active:.0%}")
        reason = "; ".join(parts)
        rows.append((int(customer), leave, None if leave is None else int(left[i]),
                     reason[:1].upper() + reason[1:] + ".", chance[i]))
    out = pd.DataFrame(rows, columns=[c for c in AT_RISK_COLUMNS if c != "expected_value"])
    spend = forecast["expected_spend"].to_numpy(dtype=float)[chosen]
    out.insert(4, "expected_value", np.nan_to_num(spend))
    return out.sort_values(["expected_value", "customer_id"], ascending=[False, True],
                           ignore_index=True)


def about_to_qualify(
    features: pd.DataFrame,
    membership: pd.Series,
    thresholds: dict,
    predictions: pd.DataFrame,
    as_of: dt.date,
    *,
    within_days: int = 30,
    min_expected_purchases: float = 1.0,
    recency_col: str = "recency_days",
    purchases_col: str = "invoice_quantity",
    revenue_col: str = "gross_revenue",
) -> pd.DataFrame:
    """Non-Insiders about to qualify (columns :data:`QUALIFY_COLUMNS`), highest expected value
    first. ``predictions`` must be the forecast for the ``within_days`` horizon."""
    member = membership.reindex(features.index).fillna(False).to_numpy(dtype=bool)
    others = features.loc[~member & ~meets_entry(features, thresholds).to_numpy()]
    forecast = predictions.reindex(others.index).fillna(0.0)
    buying = forecast["expected_purchases"].to_numpy() >= min_expected_purchases
    others, forecast = others.loc[buying], forecast.loc[buying]
    projected = others.copy()
    projected[purchases_col] = others[purchases_col] + forecast["expected_purchases"]
    projected[revenue_col] = others[revenue_col] + forecast["expected_spend"]
    projected[recency_col] = 0
    chosen = meets_entry(projected, thresholds).to_numpy()
    by = as_of + dt.timedelta(days=within_days)
    needs = _entry_needs(thresholds["entry"], purchases_col, revenue_col, recency_col)
    purchases = forecast["expected_purchases"].to_numpy(dtype=float)[chosen]
    spend = forecast["expected_spend"].to_numpy(dtype=float)[chosen]
    total_purchases = projected[purchases_col].to_numpy(dtype=float)[chosen]
    total_spend = projected[revenue_col].to_numpy(dtype=float)[chosen]
    reasons = [
        f"Expected to buy about {purchases[i]:.1f} times and spend about {spend[i]:,.0f} in the "
        f"next {within_days} days, which would bring them to about "
        f"{math.floor(total_purchases[i] + 1e-9)} purchases and {total_spend[i]:,.0f} spent in "
        f"all, enough to join ({needs})."
        for i in range(len(purchases))
    ]
    out = pd.DataFrame({"customer_id": others.index[chosen].to_numpy(dtype="int64"),
                        "qualify_by": [by] * len(reasons), "reason": reasons,
                        "expected_value": spend, "expected_purchases": purchases},
                       columns=list(QUALIFY_COLUMNS))
    return out.sort_values(["expected_value", "customer_id"], ascending=[False, True],
                           ignore_index=True)


def _leave_sentence(recency: int, rule: dict | None, leave: dt.date, as_of: dt.date) -> str:
    if leave == as_of or rule is None:
        return "they already meet a level for leaving and leave at the next run"
    bound = "more than" if rule["op"] == ">" else "at least"
    last = (as_of - dt.timedelta(days=recency)).isoformat()
    return (f"last bought {recency} days ago (on {last}): with no purchase before "
            f"{leave.isoformat()} they leave on that day, when it will be {bound} "
            f"{_number(rule['value'])} days since their last purchase")


def _entry_needs(entry: dict, purchases_col: str, revenue_col: str, recency_col: str) -> str:
    words = {">=": "at least", ">": "more than", "<=": "at most", "<": "less than"}
    needs = []
    for column, rule in entry.items():
        level = f"{words[rule['op']]} {_number(rule['value'])}"
        if column == purchases_col:
            needs.append(f"{level} purchases")
        elif column == revenue_col:
            needs.append(f"{level} spent")
        elif column == recency_col:
            needs.append(f"a purchase in the last {_number(rule['value'])} days")
        else:
            needs.append(f"{column.replace('_', ' ')} {level}")
    return ", ".join(needs)


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{float(value):,.2f}"
