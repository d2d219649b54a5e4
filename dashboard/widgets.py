"""Small layout pieces every page uses: stat cards, run captions and self-explaining states."""

from __future__ import annotations

import re
from datetime import datetime

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard import auth
from dashboard.config import app_settings
from store.schema import FAILED, UNCHANGED

NO_SUCH_RUN = "This run is not available: only runs that have succeeded can be shown."
# an exception's class before its message: "PipelineInputError: ", "(psycopg.OperationalError) "
_CLASS_NAME = re.compile(
    r"^\s*(?:\(?(?:[A-Za-z_]\w*\.)*(?:[A-Z]\w*(?:Error|Exception|Exceeded|Warning|Exit)"
    r"|[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+)\)?:?\s+)+")


def plain_error(error: str | None) -> str:
    """Why a run failed, in words: its stored reason without the exception's class name
    ("PipelineInputError: no transactions after ..." -> "no transactions after ...")."""
    text = _CLASS_NAME.sub("", (error or "").strip()).strip().rstrip(".")
    return "no reason was recorded" if text in ("", "(no message)") else text


def when(value: datetime | None) -> str:
    return value.strftime("%d %b %Y %H:%M UTC") if value else "—"


def duration(run: dict) -> str:
    start, end = run.get("started_at"), run.get("finished_at")
    if not start or not end:
        return "—"
    seconds = max((end - start).total_seconds(), 0)
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{seconds:.0f} s"


TRIGGER_WORDS = {"schedule": "on schedule", "manual": "from the dashboard",
                 "cli": "from the command line", "backfill": "as part of a history backfill"}


def started_by(run: dict) -> str:
    """How a run was started, in words: "on schedule", "from the dashboard by ann"."""
    words = TRIGGER_WORDS.get(run.get("trigger") or "", "—")
    who = run.get("requested_by")
    return f"{words} by {who}" if who and who != run.get("trigger") else words


def run_caption(run: dict) -> html.Div:
    """Which run this is: when, as of which date, how long, which model version."""
    as_of = run["as_of"].strftime("%d %b %Y") if run.get("as_of") else "—"
    parts = [
        ("Run", f"#{run['id']}"),
        ("Data as of", as_of),
        ("Finished", when(run.get("finished_at"))),
        ("Took", duration(run)),
        ("Model version", f"v{run['model_version']}" if run.get("model_version") else "—"),
        ("Started", started_by(run)),
    ]
    return html.Div(
        [html.Span([html.Small(label, className="text-muted me-1"), html.Strong(value)],
                   className="me-4 text-nowrap") for label, value in parts],
        className="mb-3 run-caption d-flex flex-wrap row-gap-1",
    )


def stat_card(title: str, value: str, note: str = "", color: str = "primary") -> dbc.Card:
    return dbc.Card(
        dbc.CardBody([
            html.Div(title, className="text-muted small text-uppercase"),
            html.Div(value, className=f"fs-3 fw-bold text-{color}"),
            html.Div(note, className="text-muted small"),
        ]),
        className="shadow-sm h-100",
    )


def empty_state(title: str, body: str | list, color: str = "info") -> dbc.Alert:
    return dbc.Alert([html.H4(title, className="alert-heading"), html.Div(body)], color=color,
                     className="my-4")


def no_runs_state(active: dict | None, latest: dict | None) -> dbc.Alert:
    """Why there is nothing to show yet, and what to do about it."""
    if active:
        return empty_state(
            "The first run is in progress",
            [f"Run #{active['id']} is {active['status']}: "
             f"{active.get('progress_stage') or 'waiting for a worker'} "
             f"({active.get('progress_percent') or 0:.0f}%). This page fills in when it ends. ",
             *_follow_link()],
        )
    if latest and latest["status"] == FAILED:
        return empty_state(
            "The last run failed, and no run has succeeded yet",
            [f"Run #{latest['id']} failed: {plain_error(latest.get('error'))}. "
             "Fix the cause and start a new run from ", dcc.Link("Admin", href="/admin"), "."],
            color="danger",
        )
    return empty_state(
        "No runs yet",
        ["Nothing has been segmented so far. An admin can start the first run from ",
         dcc.Link("Admin → Start a run", href="/admin"),
         ", or from a terminal with ", html.Code("insiders run"),
         "; the schedule will also start one by itself."],
    )


def status_alerts(current: dict | None, active: dict | None, latest: dict | None) -> list:
    """Notes above a page that shows the current run: one in progress, or a newer failure."""
    notes = []
    if active:
        notes.append(dbc.Alert(
            [f"Run #{active['id']} is {active['status']} "
             f"({active.get('progress_stage') or 'waiting'}, "
             f"{active.get('progress_percent') or 0:.0f}%). You are seeing run #{current['id']} "
             "until it succeeds. ", *_follow_link()],
            color="info", className="py-2"))
    if latest and latest["status"] == FAILED and latest["id"] > current["id"]:
        notes.append(dbc.Alert(
            f"The latest run #{latest['id']} failed: {plain_error(latest.get('error'))}. "
            f"Showing run #{current['id']}, the latest that succeeded.",
            color="warning", className="py-2"))
    if latest and latest["status"] == UNCHANGED and latest["id"] > current["id"]:
        notes.append(dbc.Alert(
            f"The latest run #{latest['id']} found {latest.get('error')}: nothing new to show.",
            color="light", className="py-2 small"))
    return notes


def _follow_link() -> list:
    """A link to the run's progress for admins; viewers cannot open the admin page."""
    return [dcc.Link("Follow it", href="/admin")] if auth.is_admin() else []


def money(value: float | None, currency: str | None = None) -> str:
    """An amount with the currency setting's symbol, e.g. "£3,843"."""
    if value is None:
        return "—"
    symbol = app_settings().currency if currency is None else currency
    return f"-{symbol}{-value:,.0f}" if value < 0 else f"{symbol}{value:,.0f}"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"
