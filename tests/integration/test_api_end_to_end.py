"""From a file to the CRM: ingest, two runs on PostgreSQL, then the API's current changes name
the same customers (ids and kinds) as ``insiders export changes`` and as the dashboard's
changes data (the Changes page and its CSV download)."""

from __future__ import annotations

import io
from datetime import date

import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from cli import cli
from dashboard import cache, data
from dashboard.api import paging
from dashboard.app import create_app
from store.db import session_scope
from store.queue import request_run
from store.tokens import create_token
from store.transactions import ingest_file
from worker.runner import execute_run

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

AS_OF = (date(2011, 9, 30), date(2011, 12, 9))


@pytest.fixture
def two_runs(clean_db, synthetic_file, service_settings):
    with clean_db.begin() as connection:
        connection.execute(text("DELETE FROM api_tokens"))
    ingest_file(clean_db, synthetic_file, profile="default")
    ids = []
    for as_of in AS_OF:
        run, created = request_run(clean_db, trigger="cli", requested_by="test", as_of=as_of,
                                   enqueue=lambda _run_id: None)
        assert created
        assert execute_run(run.id, engine=clean_db, settings=service_settings) == "succeeded"
        ids.append(run.id)
    cache.clear()
    yield clean_db, service_settings, ids
    paging.settle()
    cache.clear()
    with clean_db.begin() as connection:
        connection.execute(text("DELETE FROM api_tokens"))


def _api_changes(client, headers: dict) -> tuple[dict, list[tuple[int, str]]]:
    path, first, seen = "/api/v1/runs/current/changes?limit=25", None, []
    while path:
        answer = client.get(path, headers=headers)
        assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
        body = answer.get_json()
        first = first or body
        seen += [(row["customer_id"], row["kind"]) for row in body["items"]]
        path = (f"/api/v1/runs/current/changes?limit=25&cursor={body['next_cursor']}"
                if body["next_cursor"] else None)
    return first, seen


def test_api_export_and_dashboard_list_the_same_changes(two_runs):
    engine, settings, (older, newer) = two_runs
    with session_scope(engine) as session:
        token = create_token(session, "crm", "read")[1]
    client = create_app(settings, engine).server.test_client()
    first, api = _api_changes(client, {"Authorization": f"Bearer {token}"})
    assert (first["from_run_id"], first["to_run_id"]) == (older, newer)
    assert api and first["total"] == len(api) == len(set(api))
    assert {kind for _, kind in api} <= {"entered", "exited"}

    printed = CliRunner().invoke(cli, ["export", "changes"], catch_exceptions=False).output
    export = pd.read_csv(io.StringIO(printed))
    assert set(export[["from_run_id", "to_run_id"]].itertuples(index=False)) == {(older, newer)}
    assert sorted(zip(export["customer_id"], export["kind"], strict=True)) == sorted(api)

    page = data.changes(older, newer, engine)
    assert sorted(zip(page["customer_id"], page["kind"], strict=True)) == sorted(api)
    _name, csv = data.changes_csv(older, newer, engine)
    download = pd.read_csv(io.StringIO(csv))
    assert sorted(zip(download["customer_id"], download["change"], strict=True)) == sorted(api)
