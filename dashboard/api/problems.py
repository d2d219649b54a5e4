"""Errors of the API as ``application/problem+json`` (RFC 9457): type, title, status, detail.

Every error the API answers, its own, a request that fails validation, an unknown path or a
rate limit, goes through ``problem_response`` so a client parses one shape.
"""

from __future__ import annotations

from http import HTTPStatus

import flask
from apiflask import HTTPError

PROBLEM_TYPE = "application/problem+json"
# the OpenAPI shape of a problem document
PROBLEM_SCHEMA = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "object"},
        "run_id": {"type": "integer"},
    },
    "required": ["type", "title", "status"],
}


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_response(error: HTTPError) -> flask.Response:
    """The RFC 9457 body for ``error``; validation errors list the fields under ``errors``."""
    status = error.status_code
    body: dict = {"type": "about:blank", "title": _title(status), "status": status,
                  "instance": flask.request.path}
    if isinstance(error.detail, dict) and error.detail:
        body["errors"] = error.detail
        body["detail"] = "the request does not match the API's description"
    elif error.message and error.message != body["title"]:
        body["detail"] = str(error.message)
    body.update(error.extra_data or {})
    response = flask.jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_TYPE
    for name, value in (error.headers or {}).items():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def problem(status: int, detail: str, **extra) -> HTTPError:
    """An error to raise from a view: ``raise problem(404, "no such run")``."""
    return HTTPError(status, message=detail, extra_data=extra)
