"""The history a reader sees: one point per date, dates snapped to runs."""

from __future__ import annotations

from datetime import date

from dashboard.history import dated, month_before, run_on

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
