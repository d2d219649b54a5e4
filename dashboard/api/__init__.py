"""The REST API (``/api/v1``): its own APIFlask app, mounted on the dashboard's server.

The document is at ``/api/v1/openapi.json`` and the interactive docs at ``/api/v1/docs``.
Being a separate WSGI app under the prefix, it never sees the dashboard's sessions, guard or
Content-Security-Policy, and the dashboard never sees its tokens.
"""

from __future__ import annotations

import flask
from apiflask import APIFlask
from sqlalchemy import Engine
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from dashboard.api import changes, runs
from dashboard.api.problems import PROBLEM_SCHEMA, PROBLEM_TYPE, problem_response
from dashboard.api.reads import CSV
from dashboard.api.security import SECURITY_SCHEME, protect
from dashboard.config import ENGINE_KEY, SETTINGS_KEY
from settings import Settings

PREFIX = "/api/v1"
RATE_LIMIT = "600 per minute"
CSV_PATHS = ("/insiders", "/changes")
ERROR_STATUSES = {"401": "No token, or an invalid or revoked one",
                  "403": "The token's scope does not allow this",
                  "404": "No such run or customer, or the run has not succeeded",
                  "429": "Too many requests for this token"}


def create_api(engine: Engine, settings: Settings, *, rate_limit: str = RATE_LIMIT,
               enqueue=None) -> APIFlask:
    """The API app; ``enqueue(run_id)`` replaces sending a run's task (tests)."""
    api = APIFlask("insiders_api", title="Insiders API", version="1.0",
                   spec_path="/openapi.json", docs_path="/docs")
    api.config.update({ENGINE_KEY: engine, SETTINGS_KEY: settings,
                       runs.ENQUEUE: enqueue, "AUTO_404_RESPONSE": True,
                       "VALIDATION_ERROR_STATUS_CODE": 422,
                       "DESCRIPTION": "Runs, clusters, Insiders and who entered or left, for "
                                      "CRM tools. Every path needs a token: "
                                      "`Authorization: Bearer TOKEN`."})
    api.error_processor(problem_response)
    api.spec_processor(_document)
    protect(api, engine, rate_limit)
    api.register_blueprint(runs.blueprint)
    api.register_blueprint(changes.blueprint)
    api.after_request(_nosniff)
    return api


def _nosniff(response: flask.Response) -> flask.Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def _document(spec: dict) -> dict:
    """What the decorators do not say: every operation needs a token, errors are problem
    documents, and lists of Insiders and changes also come as CSV."""
    spec["security"] = [{name: []} for name in SECURITY_SCHEME]
    problem_content = {PROBLEM_TYPE: {"schema": PROBLEM_SCHEMA}}
    for path, operations in spec.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                responses.setdefault("400", {"description": "The body is not JSON"})
            for status, description in ERROR_STATUSES.items():
                responses.setdefault(status, {"description": description})
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    response["content"] = problem_content
            ok = responses.get("200", {}).get("content")
            if ok and path.endswith(CSV_PATHS):
                ok[CSV] = {"schema": {"type": "string"}}
                responses.setdefault("400", {"description": "A cursor this API did not give"})
            if ok:
                responses.setdefault("304", {"description": "Not modified (If-None-Match)"})
    return spec


def mount(server: flask.Flask, api: APIFlask) -> None:
    """Serve ``api`` under ``/api/v1`` from the dashboard's WSGI server."""
    server.wsgi_app = DispatcherMiddleware(server.wsgi_app, {PREFIX: api})
    server.extensions["insiders_api"] = api
