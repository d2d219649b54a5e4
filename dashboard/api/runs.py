"""Runs: the list, one run, the current run, a run's clusters and Insiders, starting a run."""

from __future__ import annotations

from datetime import timedelta

import flask
import limits
from apiflask import APIBlueprint

from dashboard import data
from dashboard.api import paging, reads, schemas
from dashboard.api.problems import problem
from dashboard.api.security import current_token, require_scope, who
from dashboard.auth import RUN_ACTION
from dashboard.config import app_settings
from store.db import session_scope
from store.queue import request_run
from store.tokens import claim_token_action
from store.users import record

blueprint = APIBlueprint("runs", __name__, tag="Runs")
ENQUEUE = "INSIDERS_API_ENQUEUE"
RUN_ID = "<int(max=2147483647):run_id>"


@blueprint.get("/runs")
@blueprint.input(schemas.RunsQuery, location="query", arg_name="query")
@blueprint.output(schemas.RunList)
def list_runs(query: dict):
    """Runs, newest first, whatever their status."""
    runs = data.run_history(limit=1000 if query.get("status") else query["limit"],
                            engine=reads.engine())
    if query.get("status"):
        runs = [run for run in runs if run["status"] == query["status"]][: query["limit"]]
    return {"items": [reads.run_out(run) for run in runs]}


@blueprint.get(f"/runs/{RUN_ID}")
@blueprint.output(schemas.RunOut)
def get_run(run_id: int):
    """One run and its status (poll this after starting a run)."""
    run = data.get_run(run_id, reads.engine())
    if run is None:
        raise problem(404, f"there is no run {run_id}")
    if run["status"] != "succeeded":  # still moving: never cached
        return reads.run_out(run)
    return reads.cached((run_id,), lambda: schemas.RunOut().dump(reads.run_out(run)))


@blueprint.get("/runs/current")
@blueprint.output(schemas.RunOut)
def current_run():
    """The current run: the succeeded run with the latest as-of date."""
    run = reads.succeeded(None)
    return reads.cached((run["id"],), lambda: schemas.RunOut().dump(reads.run_out(run)))


def _clusters(run_id: int | None):
    run = reads.succeeded(run_id)
    return reads.cached((run["id"],), lambda: schemas.ClusterList().dump(
        {"items": data.clusters(run["id"], engine=reads.engine())}))


@blueprint.get(f"/runs/{RUN_ID}/clusters")
@blueprint.output(schemas.ClusterList)
def run_clusters(run_id: int):
    """The clusters of a succeeded run: name, colour, size, shares and mean features."""
    return _clusters(run_id)


@blueprint.get("/runs/current/clusters")
@blueprint.output(schemas.ClusterList)
def current_clusters():
    """The clusters of the current run."""
    return _clusters(None)


def _insiders(run_id: int | None, query: dict):
    run = reads.succeeded(run_id)

    def answer():
        head = {"run_id": run["id"], "as_of": run["as_of"]}
        return reads.paged(lambda after, rows: paging.insiders(run, after, rows, reads.engine()),
                           query, head)

    return reads.cached((run["id"],), answer, with_contacts=True)


@blueprint.get(f"/runs/{RUN_ID}/insiders")
@blueprint.input(schemas.PageQuery, location="query", arg_name="query")
@blueprint.output(schemas.InsidersPage)
def run_insiders(run_id: int, query: dict):
    """The Insiders of a succeeded run by customer id, a page at a time (JSON or CSV)."""
    return _insiders(run_id, query)


@blueprint.get("/runs/current/insiders")
@blueprint.input(schemas.PageQuery, location="query", arg_name="query")
@blueprint.output(schemas.InsidersPage)
def current_insiders(query: dict):
    """The Insiders of the current run, a page at a time (JSON or CSV)."""
    return _insiders(None, query)


@blueprint.post("/runs")
@blueprint.input(schemas.RunRequest, arg_name="body")
@blueprint.output(schemas.RunQueued, status_code=202)
@blueprint.doc(responses={409: "A run is already queued or running",
                          429: "Too many run requests", 503: "The queue is not reachable"})
def start_run(body: dict):
    """Start a run (scope ``run``); 409 while one is active. Rate-limited and audited."""
    require_scope("run")
    engine, settings, user = reads.engine(), app_settings(), who()
    refit = bool(body.get("refit"))
    if not _claim(engine, settings.run_rate_limit, {"refit": refit}):
        _audit(user, "run_refused", {"reason": "rate limit"})
        raise problem(429, f"too many run requests: at most {settings.run_rate_limit}")
    try:
        run, created = request_run(engine, trigger="manual", requested_by=user, refit=refit,
                                   enqueue=flask.current_app.config.get(ENQUEUE))
    except Exception as exc:  # the broker may be down: say so, keep the API up
        _audit(user, "run_not_started", {"error": str(exc)[:300]})
        raise problem(503, "could not start a run: the queue is not reachable") from None
    _audit(user, "run_queued" if created else "run_already_active", {"run_id": run.id})
    if not created:
        raise problem(409, f"run {run.id} is already {run.status}", run_id=run.id)
    url = reads.run_url(run.id)
    return {"run_id": run.id, "status": run.status, "url": url}, 202, {"Location": url}


def _claim(engine, rate: str, details: dict) -> bool:
    """The dashboard's run limit (``rate``, e.g. '5 per minute'), per token, atomically."""
    item = limits.parse(rate)
    return claim_token_action(engine, current_token().id, who(), RUN_ACTION,
                              amount=item.amount, within=timedelta(seconds=item.get_expiry()),
                              details=details)


def _audit(user: str, action: str, details: dict) -> None:
    with session_scope(reads.engine()) as session:
        record(session, user, action, details)
