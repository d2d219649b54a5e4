"""Why a customer entered or left the Insiders: the reason sentence, its details and its cause
in words.

Sentences are written for a marketing reader: the customer's figures with their units and the
currency, the level they crossed, and the value at the previous run, e.g. "Entered: spent
£3,842.58 in total, above the entry level of £3,403.50 (was £2,233.63 at the previous run)."
``sentence`` rebuilds the text from the stored details, so older runs read the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.conditions import OPERATORS
from pipeline.plain import plain_value

# the version of the text ``sentence`` writes; bump it when the wording changes, so readers
# rebuild the reasons stored before (``worded``)
WORDING_VERSION = 1


def explain(
    kind: str,
    cause: str,
    after: pd.Series,
    before: pd.Series,
    thresholds: dict,
    old_thresholds: dict | None,
    version: int,
    currency: str = "£",
) -> tuple[str, dict]:
    """The reason sentence (money in ``currency``) and JSON-safe details of one entry or exit."""
    side = "entry" if kind == "entered" else "exit"
    if cause == "model_update":
        conditions = _model_conditions(side, after, before, thresholds, old_thresholds)
    else:
        conditions = _feature_conditions(side, after, before, thresholds)
    first = conditions[0]
    details = {
        "feature": first["feature"],
        "op": first["op"],
        "threshold": first["threshold"],
        "before": first["before"],
        "after": first["after"],
        "model_version": int(version),
        "conditions": conditions,
        "wording": wording(currency),
    }
    return sentence(kind, cause, details, currency), details


def wording(currency: str) -> dict:
    """What ``details["wording"]`` records of a reason written by ``explain``: the version of
    the text and the currency it names."""
    return {"version": WORDING_VERSION, "currency": currency}


def worded(details: dict | None, currency: str) -> bool:
    """Whether the reason stored with ``details`` is already ``sentence``'s text in
    ``currency`` (written by this wording version), so it need not be rebuilt."""
    mark = details.get("wording") if details else None
    return isinstance(mark, dict) and mark.get("version") == WORDING_VERSION \
        and mark.get("currency") == currency


def without_wording(details: dict | None) -> dict | None:
    """``details`` as shown outside (the API): without ``wording``, the readers' own mark."""
    if not isinstance(details, dict) or "wording" not in details:
        return details
    return {key: value for key, value in details.items() if key != "wording"}


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


# what each figure is, as a phrase about the customer, and as the name of its level
PHRASES = {
    "gross_revenue": ("spent {} in total", "total spend"),
    "recency_days": ("last bought {} ago", "days since the last purchase"),
    "invoice_quantity": ("placed {} orders", "number of orders"),
    "items_quantity": ("bought {} items", "items bought"),
    "products_quantity": ("bought {} different products", "different products bought"),
    "avg_ticket": ("spent {} per order on average", "average order value"),
}
MONEY_FEATURES = frozenset({"gross_revenue", "avg_ticket"})

CAUSE_WORDS = {
    "purchase activity": "The customer's own purchases (spend, orders) crossed a level.",
    "inactivity": "The customer has not bought for long enough to cross the exit level.",
    "new customer": "First seen in this run, already meeting every entry level.",
    "model update": "A new model version moved the levels; the customer's own figures did "
                    "not cross them.",
}


def cause_words(cause: str | None, kind: str, details: dict | None = None) -> str:
    """The cause as words: purchase activity, inactivity, new customer or model update
    (explained by ``CAUSE_WORDS``)."""
    if cause == "new_customer":
        return "new customer"
    if cause == "model_update":
        return "model update"
    features = {c.get("feature") for c in (details or {}).get("conditions") or [details or {}]}
    if kind == "exited" and features == {"recency_days"}:
        return "inactivity"
    return "purchase activity"


def sentence(kind: str, cause: str | None, details: dict | None, currency: str = "£") -> str:
    """The reason of one entry or exit as a sentence, from its stored ``details``."""
    verb = "Entered" if kind == "entered" else "Left"
    side = "entry" if kind == "entered" else "exit"
    conditions = (details or {}).get("conditions") or ([details] if details else [])
    conditions = [c for c in conditions if c.get("feature") in PHRASES]
    if not conditions:
        return f"{verb} the Insiders ({cause_words(cause, kind, details)})."
    if cause == "model_update":
        version = (details or {}).get("model_version")
        parts = [_level_change(c, side, currency) for c in conditions]
        facts = ", and ".join(_fact(c["feature"], c["after"], currency) for c in conditions)
        return (f"{verb} after model version {version} {' and '.join(parts)}; "
                f"the customer {facts}.")
    parts = [_crossing(c, side, currency, with_before=cause != "new_customer")
             for c in conditions]
    lead = f"{verb} as a new customer" if cause == "new_customer" else verb
    listed = parts[0] if len(parts) == 1 else "; ".join(parts[:-1]) + "; and " + parts[-1]
    return f"{lead}: {listed}."


def _amount(feature: str, value: object, currency: str) -> str:
    if value is None:
        return "unknown"
    number = float(value)
    if feature in MONEY_FEATURES:
        sign = "-" if number < 0 else ""
        return f"{sign}{currency}{abs(number):,.2f}"
    text = f"{int(number):,}" if number.is_integer() else f"{number:,.1f}"
    if feature == "recency_days":
        return f"{text} day" if number == 1 else f"{text} days"
    return text


def _fact(feature: str, value: object, currency: str) -> str:
    return PHRASES[feature][0].format(_amount(feature, value, currency))


def _crossing(c: dict, side: str, currency: str, with_before: bool = True) -> str:
    feature, after, level = c["feature"], c["after"], c["threshold"]
    text = _fact(feature, after, currency)
    if after is not None and level is not None:
        text += f", {_relation(feature, after, level)} the {side} level of "
        text += _amount(feature, level, currency)
    before = c.get("before")
    if with_before and before is not None and before != after:
        text += f" (was {_amount(feature, before, currency)} at the previous run)"
    return text


def _relation(feature: str, value: object, level: object) -> str:
    if float(value) == float(level):
        return "at"
    if feature == "recency_days":
        return "longer ago than" if float(value) > float(level) else "more recent than"
    return "above" if float(value) > float(level) else "below"


def _level_change(c: dict, side: str, currency: str) -> str:
    feature = c["feature"]
    name = PHRASES[feature][1]
    new = _amount(feature, c["threshold"], currency)
    old = c.get("old_threshold")
    if old is None:
        return f"set the {side} level for {name} at {new}"
    direction = "raised" if float(c["threshold"]) > float(old) else "lowered"
    return (f"{direction} the {side} level for {name} from "
            f"{_amount(feature, old, currency)} to {new}")



def sentences(kinds: list, causes: list, details: list, currency: str = "£") -> list[str]:
    """``sentence`` of many events at once (``details`` each a non-empty dict), the same
    text: the crossings of every event are one table, their figures are formatted once per
    distinct value and the parts are built column-wise; model updates and events without a
    known figure go through ``sentence``."""
    out: list = [None] * len(kinds)
    rows, features, afters, levels, befores = [], [], [], [], []
    for i, (kind, cause, detail) in enumerate(zip(kinds, causes, details, strict=True)):
        conditions = [c for c in detail.get("conditions") or [detail]
                      if c.get("feature") in PHRASES]
        if cause == "model_update" or not conditions:
            out[i] = sentence(kind, cause, detail, currency)
            continue
        for c in conditions:
            rows.append(i)
            features.append(c["feature"])
            afters.append(c["after"])
            levels.append(c["threshold"])
            befores.append(c.get("before"))
    if not rows:
        return out
    feature = np.array(features, dtype=object)
    kind = np.array(kinds, dtype=object)[rows]
    new = np.array(causes, dtype=object)[rows] == "new_customer"
    after, level, before = (np.array([np.nan if v is None else v for v in values], dtype=float)
                            for values in (afters, levels, befores))
    phrase = {f: p[0].split("{}") for f, p in PHRASES.items()}
    recency = feature == "recency_days"
    text = add(np.array([phrase[f][0] for f in features]), _amounts(features, afters, currency),
               np.array([phrase[f][1] for f in features]))
    relation = np.where(after == level, "at", np.where(
        after > level, np.where(recency, "longer ago than", "above"),
        np.where(recency, "more recent than", "below")))
    side = np.where(kind == "entered", " the entry level of ", " the exit level of ")
    has_level = ~np.isnan(after) & ~np.isnan(level)
    text = np.where(has_level, add(text, ", ", relation, side,
                                   _amounts(features, levels, currency)), text)
    was = ~np.isnan(before) & (before != after) & ~new
    text = np.where(was, add(text, " (was ", _amounts(features, befores, currency),
                             " at the previous run)"), text)
    verb = np.where(kind == "entered", "Entered", "Left")
    lead = np.where(new, np.strings.add(verb, " as a new customer"), verb)
    parts: dict[int, list[str]] = {}
    for row, part in zip(rows, text, strict=True):
        parts.setdefault(row, []).append(part)
    first = dict(zip(reversed(rows), reversed(lead.tolist()), strict=True))
    for row, listed in parts.items():
        joined = listed[0] if len(listed) == 1 else "; ".join(listed[:-1]) + "; and " + listed[-1]
        out[row] = f"{first[row]}: {joined}."
    return out


def _amounts(features: list, values: list, currency: str) -> np.ndarray:
    """``_amount`` of each (feature, value): one tight loop per kind of figure."""
    out = np.full(len(values), "unknown", dtype=object)
    numbers = np.array([np.nan if v is None else v for v in values], dtype=float)
    known = ~np.isnan(numbers)
    feature = np.array(features, dtype=object)
    money = np.isin(feature, list(MONEY_FEATURES)) & known
    out[money] = [f"-{currency}{-v:,.2f}" if v < 0 else f"{currency}{abs(v):,.2f}"
                  for v in numbers[money].tolist()]
    counts = ~money & known
    out[counts] = [f"{int(v):,}" if v.is_integer() else f"{v:,.1f}"
                   for v in numbers[counts].tolist()]
    days = counts & (feature == "recency_days")
    out[days] = np.where(numbers[days] == 1, np.strings.add(out[days].astype(str), " day"),
                         np.strings.add(out[days].astype(str), " days"))
    return out.astype(np.dtypes.StringDType())


def add(*parts) -> np.ndarray:
    """The element-wise concatenation of string arrays (and plain strings)."""
    text = parts[0]
    for part in parts[1:]:
        text = np.strings.add(text, part)
    return text


NO_EVENT = ("No entry or exit was recorded for this customer in the runs between these dates "
            "(the change came with a rerun on the same date).")


def plain_reasons(events: pd.DataFrame, currency: str = "£") -> pd.DataFrame:
    """``reason`` as a sentence (rebuilt from the details, dicts, unless it was stored in
    today's wording and ``currency``: older runs stored code-like text), ``cause`` as words and
    ``cause_help`` explaining it; in place, and returned."""
    kinds, causes = events["kind"].tolist(), events["cause"].tolist()
    reasons, details = events["reason"].tolist(), events["details"].tolist()
    details = [d if isinstance(d, dict) else None for d in details]
    words = [cause_words(c, k, d) if isinstance(c, str) else None
             for k, c, d in zip(kinds, causes, details, strict=True)]
    rebuilt = [i for i, (c, d) in enumerate(zip(causes, details, strict=True))
               if isinstance(c, str) and d and not worded(d, currency)]
    built = sentences([kinds[i] for i in rebuilt], [causes[i] for i in rebuilt],
                      [details[i] for i in rebuilt], currency) if rebuilt else []
    for i, text in zip(rebuilt, built, strict=True):
        reasons[i] = text
    reasons = [NO_EVENT if w is None else r for w, r in zip(words, reasons, strict=True)]
    events["reason"], events["cause"] = reasons, words
    events["cause_help"] = [CAUSE_WORDS.get(c, "") if c else "" for c in words]
    return events
