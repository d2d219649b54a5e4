"""What every run-scoped read shares: resolving a run, ETags and CSV or JSON answers."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date

import flask
import pandas as pd
from sqlalchemy import Engine

from dashboard import data
from dashboard.api import contacts, tables
from dashboard.api.problems import problem
from dashboard.api.security import ENGINE
from store.runs import as_utc
from store.schema import SUCCEEDED

CSV = "text/csv"
JSON = "application/json"
RUN_TIMES = ("queued_at", "started_at", "finished_at")


def engine() -> Engine:
    return flask.current_app.config[ENGINE]


def run_url(run_id: int) -> str:
    return flask.url_for("runs.get_run", run_id=run_id, _external=False)


def run_out(run: dict) -> dict:
    """A run as the API shows it: times in UTC and the URL to read it again."""
    return {**run, **{name: as_utc(run.get(name)) for name in RUN_TIMES},
            "url": run_url(run["id"])}


def succeeded(run_id: int | None) -> dict:
    """The succeeded run ``run_id`` (None: the current run), else a 404 problem."""
    if run_id is None:
        run = data.current_run(engine())
        if run is None:
            raise problem(404, "no run has succeeded yet")
        return run
    run = data.get_run(run_id, engine())
    if run is None:
        raise problem(404, f"there is no run {run_id}")
    if run["status"] != SUCCEEDED:
        raise problem(404, f"run {run_id} is {run['status']}: only a succeeded run has "
                           "results", run_id=run_id)
    return run


def previous(run: dict) -> dict:
    found = data.previous_run(run["id"], engine())
    if found is None:
        raise problem(404, f"run {run['id']} is the first succeeded run: nothing to compare")
    return found


def wants_csv() -> bool:
    best = flask.request.accept_mimetypes.best_match([JSON, CSV], default=JSON)
    return best == CSV


def etag_for(*run_ids: int, extra: str = "") -> str:
    """Same runs, same URL, same format: the same answer (a succeeded run never changes);
    ``extra`` names whatever else the answer holds (contacts imported since)."""
    key = f"{run_ids}|{flask.request.full_path}|{wants_csv()}|{extra}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def cached(run_ids: tuple[int, ...], answer: Callable[[], flask.Response | dict], *,
           with_contacts: bool = False):
    """304 when If-None-Match holds this answer's ETag; else the answer, tagged. An answer
    ``with_contacts`` changes when contact details are imported again."""
    tag = etag_for(*run_ids, extra=contacts.stamp(engine()) if with_contacts else "")
    if tag in flask.request.if_none_match:
        response = flask.Response(status=304)
        response.set_etag(tag)
        return response
    result = answer()
    response = result if isinstance(result, flask.Response) else flask.jsonify(result)
    response.set_etag(tag)
    response.headers["Cache-Control"] = "private, max-age=0, must-revalidate"
    return response


def paged(read: Callable[[int, int], tuple[pd.DataFrame, int]], query: dict,
          head: dict) -> flask.Response | dict:
    """One page as JSON ready to send (with ``next_cursor``; shaped as the page's schema says,
    so not dumped again) or CSV (with a ``Link`` header), with the contact details of the
    page's customers. ``read(after, rows)`` gives up to ``rows`` rows with a customer id above
    ``after``, by customer id, and the total."""
    try:
        after = tables.decode_cursor(query["cursor"]) if query.get("cursor") else tables.FIRST
    except tables.CursorError as exc:
        raise problem(400, str(exc)) from None
    limit = query["limit"]
    rows, total = read(after, limit + 1)
    more, rows = len(rows) > limit, rows.iloc[:limit]
    cursor = tables.encode_cursor(int(rows["customer_id"].iloc[-1])) if more else None
    rows = contacts.with_contacts(rows, engine())
    if not wants_csv():
        head = {name: value.isoformat() if isinstance(value, date) else value
                for name, value in head.items()}
        return {**head, "total": total, "next_cursor": cursor,
                "items": tables.json_records(rows)}
    response = flask.Response(tables.to_csv(rows), mimetype=CSV)
    response.headers["X-Total-Count"] = str(total)
    if cursor:
        args = {**flask.request.args.to_dict(), "cursor": cursor}
        url = flask.url_for(flask.request.endpoint, **flask.request.view_args, **args)
        response.headers["Link"] = f'<{url}>; rel="next"'
    return response
