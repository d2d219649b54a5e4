"""The history a reader sees: one point per as-of date, dates snapped to runs, and the reasons
of entries and exits as plain sentences with their cause in words.

Runs on the same date that only repeat one another are not new history: the latest run of a
date stands for it (reruns on unchanged data are recorded as unchanged by the worker anyway).
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import orjson
import pandas as pd

from dashboard.config import app_settings
from pipeline.reasons import CAUSE_WORDS, cause_words, sentences, worded

NO_EVENT = ("No entry or exit was recorded for this customer in the runs between these dates "
            "(the change came with a rerun on the same date).")


def dated(runs: list[dict]) -> list[dict]:
    """One run per as-of date, the latest of that date, oldest first (``runs`` sorted by
    (as_of, id), as ``data.succeeded_runs`` gives them)."""
    return list({run["as_of"]: run for run in runs}.values())


def run_on(day: date | None, runs: list[dict]) -> dict | None:
    """The run of ``runs`` (from ``dated``) a date snaps to: the latest as of that date or
    before it, else the first one."""
    if not runs:
        return None
    before = [r for r in runs if day is not None and r["as_of"] <= day]
    return before[-1] if before else runs[0]


def month_before(run: dict, runs: list[dict]) -> dict | None:
    """The run a month (30 days) before ``run``, snapped as ``run_on`` does; None when the
    history does not reach that far back."""
    day = run["as_of"] - timedelta(days=30)
    earlier = [r for r in runs if r["as_of"] <= day]
    return earlier[-1] if earlier else None


def currency() -> str:
    """The currency symbol of the app's settings (the pound outside an app)."""
    try:
        return app_settings().currency
    except RuntimeError:  # no app context: a test or a worker thread
        return "£"


def stored_details(texts: list) -> list[dict | None]:
    """Events' details read as JSON text, as dicts (None where there are none)."""
    return [_details(text) if isinstance(text, str) else None for text in texts]


def _details(text: str) -> dict:
    try:
        return orjson.loads(text)  # a few times faster than json over thousands of events
    except orjson.JSONDecodeError:  # NaN, which json writes and SQLite keeps
        return json.loads(text)


def plain_reasons(events: pd.DataFrame) -> pd.DataFrame:
    """``reason`` as a sentence (rebuilt from the stored details unless it was stored in
    today's wording and currency: older runs stored code-like text), ``cause`` as words and
    ``cause_help`` explaining it; in place, and returned."""
    kinds, causes = events["kind"].tolist(), events["cause"].tolist()
    reasons, details = events["reason"].tolist(), events["details"].tolist()
    details = [d if isinstance(d, dict) else None for d in details]
    words = [cause_words(c, k, d) if isinstance(c, str) else None
             for k, c, d in zip(kinds, causes, details, strict=True)]
    money = currency()
    rebuilt = [i for i, (c, d) in enumerate(zip(causes, details, strict=True))
               if isinstance(c, str) and d and not worded(d, money)]
    built = sentences([kinds[i] for i in rebuilt], [causes[i] for i in rebuilt],
                      [details[i] for i in rebuilt], money) if rebuilt else []
    for i, text in zip(rebuilt, built, strict=True):
        reasons[i] = text
    reasons = [NO_EVENT if w is None else r for w, r in zip(words, reasons, strict=True)]
    events["reason"], events["cause"] = reasons, words
    events["cause_help"] = [CAUSE_WORDS.get(c, "") if c else "" for c in words]
    return events
