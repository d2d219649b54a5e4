"""A failed run's reason in plain words: the message without the exception's class name, on
the Overview's banner and empty state (the Admin page's: tests/e2e/test_dashboard_browser.py)."""

from __future__ import annotations

import pytest

from dashboard import widgets

FAILED_RUN = {"id": 4, "status": "failed", "trigger": "schedule", "finished_at": None,
              "error": "PipelineInputError: no transactions after 2011-11-30"}


def _text(component) -> str:
    """Every string inside a Dash component tree."""
    if isinstance(component, str):
        return component
    if isinstance(component, list | tuple):
        return " ".join(_text(c) for c in component)
    children = getattr(component, "children", None)
    return "" if children is None else _text(children)


@pytest.mark.parametrize(("stored", "shown"), [
    ("PipelineInputError: no transactions after 2011-11-30", "no transactions after 2011-11-30"),
    ("OperationalError: (psycopg.OperationalError) connection refused", "connection refused"),
    ("worker.runner.RunNoLongerActive: run 5 was reaped", "run 5 was reaped"),
    ("KeyError: 'customer_id'", "'customer_id'"),
    ("the worker stopped sending heartbeats.", "the worker stopped sending heartbeats"),
    ("ValueError: (no message)", "no reason was recorded"),
    (None, "no reason was recorded"),
    ("", "no reason was recorded"),
])
def test_plain_error_keeps_the_message_only(stored, shown):
    assert widgets.plain_error(stored) == shown


def test_banners_show_the_message_without_the_class_name():
    current = {"id": 3}
    banner = _text(widgets.status_alerts(current, None, FAILED_RUN))
    assert "The latest run #4 failed: no transactions after 2011-11-30." in banner
    empty = _text(widgets.no_runs_state(None, FAILED_RUN))
    assert "Run #4 failed: no transactions after 2011-11-30." in empty
    for text in (banner, empty):
        assert "Error" not in text and "no transactions after 2011-11-30" in text
