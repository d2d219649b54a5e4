"""The history a reader sees: one point per as-of date, dates snapped to runs, and the reasons
of entries and exits as plain sentences with their cause in words.

Runs on the same date that only repeat one another are not new history: the latest run of a
date stands for it (reruns on unchanged data are recorded as unchanged by the worker anyway).
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from dashboard.config import app_settings
from pipeline import reasons
from store.run_changes import stored_details  # noqa: F401 - the data layer reads it here


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


def plain_reasons(events: pd.DataFrame) -> pd.DataFrame:
    """``pipeline.reasons.plain_reasons`` in the app's currency: ``reason`` as a sentence,
    ``cause`` as words and ``cause_help``; in place, and returned."""
    return reasons.plain_reasons(events, currency())
