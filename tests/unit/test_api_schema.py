"""Property-based run of schemathesis against the API's own OpenAPI document (over WSGI, on a
seeded SQLite database): with a read token and with a run token, no 5xx, every response as
documented, and without a token no operation answers anything but 401."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import migrations
from dashboard.app import create_app
from settings import load_settings
from store.db import make_engine, session_scope
from store.tokens import create_token
from tests.dashboard_seed import seed

EXAMPLES = 45  # per operation and token: 13 operations x 2 tokens x 45 > 1,000 requests
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
calls = {"read": 0, "run": 0}


def _serve() -> tuple:
    """The dashboard's server on a seeded SQLite database in a temporary directory (built at
    import: schemathesis reads the document when the tests are collected)."""
    tmp = Path(tempfile.mkdtemp(prefix="insiders-api-"))
    url = f"sqlite:///{tmp / 'insiders.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    seed(engine)
    app = create_app(load_settings({"INSIDERS_DATA_DIR": str(tmp),
                                    "INSIDERS_DATABASE_URL": url}), engine)
    app.server.extensions["insiders_api"].config["INSIDERS_API_ENQUEUE"] = lambda run_id: None
    with session_scope(engine) as session:
        tokens = {scope: create_token(session, scope, scope)[1] for scope in ("read", "run")}
    return app.server, tokens, tmp


SERVER, TOKENS, TMP = _serve()
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", SERVER)


@pytest.fixture(scope="module", autouse=True)
def _clean_up():
    yield
    shutil.rmtree(TMP, ignore_errors=True)


@pytest.fixture
def served():
    return SERVER, TOKENS


def _call(case, scope: str, tokens: dict) -> None:
    calls[scope] += 1
    case.call_and_validate(headers={"Authorization": f"Bearer {tokens[scope]}"}, checks=CHECKS)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_with_a_read_token(case, served):
    _call(case, "read", served[1])


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_with_a_run_token(case, served):
    _call(case, "run", served[1])


def test_over_a_thousand_requests_were_made():
    print(f"schemathesis requests: {calls}")
    assert calls["read"] + calls["run"] >= 1000, calls


def test_no_operation_answers_without_a_token(served):
    server, _tokens = served
    client = server.test_client()
    document = client.get("/api/v1/openapi.json").get_json()
    for path, operations in document["paths"].items():
        concrete = path.replace("{run_id}", "3").replace("{customer_id}", "12001")
        for method in operations:
            answer = client.open(f"/api/v1{concrete}?from_run=1", method=method.upper(),
                                 json={})
            assert answer.status_code == 401, (method, path)
            assert answer.mimetype == "application/problem+json"
