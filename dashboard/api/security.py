"""Bearer tokens on every API path, scopes, refusals in the audit log and a limit per token.

Dashboard sessions are never read here (the API is its own Flask app under ``/api/v1``), and
the dashboard's guard never reads tokens, so neither credential opens the other side.
"""

from __future__ import annotations

import flask
from apiflask import APIFlask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from sqlalchemy import Engine

from dashboard.api.problems import problem
from store.db import session_scope
from store.tokens import TokenInfo, digest, find_token
from store.users import record

ENGINE = "INSIDERS_API_ENGINE"
PUBLIC = ("/openapi.json", "/docs")
SECURITY_SCHEME = {"BearerToken": {"type": "http", "scheme": "bearer",
                                   "description": "insiders token create NAME --scope read|run"}}
REFUSED = "api_refused"


def refuse(engine: Engine, who: str, status: int, reason: str) -> None:
    """Audit a refused request, then raise the matching problem."""
    with session_scope(engine) as session:
        record(session, who, REFUSED, {"status": status, "reason": reason,
                                       "method": flask.request.method,
                                       "path": flask.request.full_path.rstrip("?")})
    headers = {"WWW-Authenticate": 'Bearer realm="insiders"'} if status == 401 else {}
    error = problem(status, reason)
    error.headers = headers
    raise error


def _bearer() -> str | None:
    header = flask.request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _check_token() -> None:
    if flask.request.path in PUBLIC or flask.request.method == "OPTIONS":
        return
    engine = flask.current_app.config[ENGINE]
    token = _bearer()
    if token is None:
        refuse(engine, "anonymous", 401, "an API token is required (Authorization: Bearer)")
    with session_scope(engine) as session:
        info = find_token(session, token)
    if info is None:
        refuse(engine, "anonymous", 401, "this token is not valid")
    if not info.active:
        refuse(engine, f"token:{info.name}", 401, "this token was revoked")
    flask.g.token = info


def current_token() -> TokenInfo:
    return flask.g.token


def who() -> str:
    """The audit log's name for the caller: ``token:NAME``."""
    return f"token:{current_token().name}"


def require_scope(scope: str) -> None:
    """Refuse (403, audited) a token without ``scope``; ``run`` includes ``read``."""
    if scope == "run" and current_token().scope != "run":
        refuse(flask.current_app.config[ENGINE], who(), 403,
               "this token may only read (scope read); starting a run needs scope run")


def _limit_key() -> str:
    token = _bearer()
    return f"token:{digest(token)}" if token else f"address:{get_remote_address()}"


def protect(api: APIFlask, engine: Engine, rate: str) -> Limiter:
    """Require a token on every path but the document and the docs; ``rate`` per token."""
    api.config[ENGINE] = engine
    api.security_schemes = SECURITY_SCHEME
    limiter = Limiter(_limit_key, app=api, storage_uri="memory://", default_limits=[rate],
                      headers_enabled=True)
    api.before_request(_check_token)
    return limiter
