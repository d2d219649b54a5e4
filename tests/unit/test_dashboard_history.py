"""The history a reader sees: one point per date, dates snapped to runs, reasons as sentences."""

from __future__ import annotations

from datetime import date

import pandas as pd

from dashboard.history import dated, month_before, plain_reasons, run_on
from pipeline.reasons import WORDING_VERSION, explain, sentence, wording

RUNS = [{"id": 1, "as_of": date(2011, 9, 30)}, {"id": 2, "as_of": date(2011, 10, 31)},
        {"id": 3, "as_of": date(2011, 10, 31)}, {"id": 4, "as_of": date(2011, 11, 30)}]


def test_reruns_on_a_date_are_one_point():
    assert [r["id"] for r in dated(RUNS)] == [1, 3, 4]


def test_dates_snap_to_the_latest_run_on_or_before_them():
    runs = dated(RUNS)
    assert run_on(date(2011, 10, 31), runs)["id"] == 3
    assert run_on(date(2011, 11, 15), runs)["id"] == 3
    assert run_on(date(2011, 1, 1), runs)["id"] == 1
    assert run_on(None, runs)["id"] == 1 and run_on(date(2011, 1, 1), []) is None


def test_a_month_before():
    runs = dated(RUNS)
    assert month_before(runs[-1], runs)["id"] == 3
    assert month_before(runs[0], runs) is None


def _event(currency: str) -> dict:
    """An entry as the worker stores it: ``explain``'s sentence and details."""
    thresholds = {"entry": {"gross_revenue": {"op": ">=", "value": 2500.0}},
                  "exit": {"gross_revenue": {"op": "<", "value": 1800.0}}}
    reason, details = explain("entered", "feature", pd.Series({"gross_revenue": 3000.5}),
                              pd.Series({"gross_revenue": 2000.0}), thresholds, None, 1,
                              currency)
    return {"kind": "entered", "cause": "feature", "reason": reason, "details": details}


def test_a_reason_stored_in_todays_wording_and_currency_is_shown_as_stored():
    stored = _event("£")
    assert stored["details"]["wording"] == wording("£")
    assert stored["reason"] == sentence("entered", "feature", stored["details"], "£")
    marked = {**stored, "reason": "the stored text"}  # kept as is: not rebuilt
    other_currency = _event("€")
    older = {**stored, "details": {**stored["details"], "wording": {
        "version": WORDING_VERSION - 1, "currency": "£"}}}
    legacy = {**stored, "reason": "gross revenue rose above the threshold (2,000 -> 3,000)",
              "details": {k: v for k, v in stored["details"].items() if k != "wording"}}
    events = plain_reasons(pd.DataFrame([stored, marked, other_currency, older, legacy]))
    assert events["reason"].tolist() == [stored["reason"], "the stored text"] + [
        stored["reason"]] * 3  # rebuilt in the reader's currency (£ outside an app)
    assert set(events["cause"]) == {"purchase activity"}
