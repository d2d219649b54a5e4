"""The REST API over HTTP (Flask test client on the dashboard's server): tokens and scopes,
every endpoint, problem documents, ETags, CSV, cursors, POST /runs and its refusals."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import migrations
from dashboard.app import create_app
from pipeline.reasons import without_wording, wording
from settings import load_settings
from store.db import make_engine, session_scope
from store.schema import AuditEntry, MembershipEvent
from store.tokens import create_token, revoke_token
from tests.dashboard_seed import ORIGIN, call, login, page, seed

ADMIN, PASSWORD = "ada", "correct-horse-1"


@pytest.fixture
def api(tmp_path):
    url = f"sqlite:///{tmp_path / 'insiders.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    seed(engine)
    settings = load_settings({"INSIDERS_DATA_DIR": str(tmp_path), "INSIDERS_DATABASE_URL": url,
                              "INSIDERS_ADMIN_USER": ADMIN, "INSIDERS_ADMIN_PASSWORD": PASSWORD,
                              "INSIDERS_RUN_RATE_LIMIT": "2 per minute"})
    app = create_app(settings, engine)
    queued: list[int] = []
    app.server.extensions["insiders_api"].config["INSIDERS_API_ENQUEUE"] = queued.append
    with session_scope(engine) as session:
        tokens = {scope: create_token(session, scope, scope)[1] for scope in ("read", "run")}
        tokens["revoked"] = create_token(session, "old", "run")[1]
        revoke_token(session, "old")
    yield app.server.test_client(), tokens, engine, queued
    engine.dispose()


def _h(token: str, **extra) -> dict:
    return {"Authorization": f"Bearer {token}", **extra}


def _refusals(engine) -> list[dict]:
    with session_scope(engine) as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.action == "api_refused"))
        return [{"who": r.username, **r.details} for r in rows]


def test_no_token_a_revoked_token_and_a_read_token_on_post_are_refused_and_audited(api):
    client, tokens, engine, queued = api
    assert client.get("/api/v1/runs").status_code == 401
    revoked = client.get("/api/v1/runs", headers=_h(tokens["revoked"]))
    assert revoked.status_code == 401 and revoked.mimetype == "application/problem+json"
    assert client.get("/api/v1/runs", headers=_h("ins_made-up")).status_code == 401
    assert client.post("/api/v1/runs", headers=_h(tokens["read"]), json={}).status_code == 403
    refusals = _refusals(engine)
    assert [r["status"] for r in refusals] == [401, 401, 401, 403]
    assert refusals[1]["who"] == "token:old" and refusals[3]["who"] == "token:read"
    assert queued == []


def test_sessions_do_not_open_the_api_and_tokens_do_not_open_the_dashboard(api):
    client, tokens, _engine, _queued = api
    assert client.get("/", headers=_h(tokens["run"])).status_code == 302  # to the login form
    assert client.get("/_dash-layout", headers=_h(tokens["run"])).status_code == 401
    assert login(client, ADMIN, PASSWORD).status_code == 302
    assert client.get("/api/v1/runs").status_code == 401


def test_runs_list_one_and_current(api):
    client, tokens, _engine, _queued = api
    h = _h(tokens["read"])
    runs = client.get("/api/v1/runs", headers=h).get_json()["items"]
    assert [r["id"] for r in runs] == [4, 3, 2, 1]
    failed = client.get("/api/v1/runs?status=failed", headers=h).get_json()["items"]
    assert [r["id"] for r in failed] == [4]
    assert client.get("/api/v1/runs/4", headers=h).get_json()["error"].startswith("Pipeline")
    current = client.get("/api/v1/runs/current", headers=h).get_json()
    assert current["id"] == 3 and current["as_of"] == "2011-11-30"
    assert current["url"] == "/api/v1/runs/3"
    missing = client.get("/api/v1/runs/99", headers=h)
    assert missing.status_code == 404 and missing.get_json()["title"] == "Not Found"


def test_results_are_only_read_from_succeeded_runs(api):
    client, tokens, _engine, _queued = api
    for path in ("insiders", "clusters", "changes"):
        answer = client.get(f"/api/v1/runs/4/{path}", headers=_h(tokens["read"]))
        assert answer.status_code == 404, path
        assert "failed" in answer.get_json()["detail"]


def test_clusters_of_a_run(api):
    client, tokens, _engine, _queued = api
    items = client.get("/api/v1/runs/3/clusters", headers=_h(tokens["read"])).get_json()["items"]
    assert [c["cluster"] for c in items] == [0, 1, 2, 3] and all(c["name"] for c in items)
    assert sum(c["size"] for c in items) == 60


def test_insiders_page_by_cursor_and_as_csv(api):
    client, tokens, _engine, _queued = api
    h = _h(tokens["read"])
    first = client.get("/api/v1/runs/current/insiders?limit=4", headers=h).get_json()
    seen = [row["customer_id"] for row in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(f"/api/v1/runs/current/insiders?limit=4&cursor={cursor}",
                          headers=h).get_json()
        seen += [row["customer_id"] for row in page["items"]]
        cursor = page["next_cursor"]
    assert len(seen) == first["total"] == len(set(seen)) and seen == sorted(seen)
    csv = client.get("/api/v1/runs/3/insiders", headers=_h(tokens["read"], Accept="text/csv"))
    assert csv.mimetype == "text/csv"
    lines = csv.get_data(as_text=True).splitlines()
    assert lines[0].startswith("run_id,as_of,customer_id,cluster,cluster_name,gross_revenue")
    assert [int(line.split(",")[2]) for line in lines[1:]] == seen
    bad = client.get("/api/v1/runs/3/insiders?cursor=zzz", headers=h)
    assert bad.status_code == 400 and bad.mimetype == "application/problem+json"


def test_etag_and_if_none_match(api):
    client, tokens, _engine, _queued = api
    h = _h(tokens["read"])
    first = client.get("/api/v1/runs/3/changes", headers=h)
    assert first.headers["ETag"]
    again = client.get("/api/v1/runs/3/changes",
                       headers={**h, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""
    assert "ETag" not in client.get("/api/v1/runs/4", headers=h).headers  # not succeeded


def test_changes_with_kind_cause_reason_and_filters(api):
    client, tokens, _engine, _queued = api
    h = _h(tokens["read"])
    page = client.get("/api/v1/runs/current/changes", headers=h).get_json()
    assert (page["from_run_id"], page["to_run_id"]) == (2, 3)
    assert page["items"] and all(r["reason"] for r in page["items"])
    kinds = {r["kind"] for r in page["items"]}
    entered = client.get("/api/v1/runs/3/changes?kind=entered", headers=h).get_json()["items"]
    assert {r["kind"] for r in entered} == {"entered"} and len(entered) <= len(page["items"])
    assert kinds <= {"entered", "exited"}
    same = client.get("/api/v1/runs/3/changes?cause=feature", headers=h).get_json()
    assert same["items"] and {r["cause"] for r in same["items"]} <= {
        "purchase activity", "inactivity"}  # the stored cause "feature", in words
    since = client.get("/api/v1/changes?from_run=1", headers=h).get_json()
    assert (since["from_run_id"], since["to_run_id"]) == (1, 3)
    between = client.get("/api/v1/changes?from_run=1&to_run=2", headers=h).get_json()
    assert between["to_run_id"] == 2
    assert client.get("/api/v1/changes?from_run=3&to_run=1", headers=h).status_code == 400
    assert client.get("/api/v1/runs/1/changes", headers=h).status_code == 404  # first run
    assert client.get("/api/v1/changes?kind=both&from_run=1", headers=h).status_code == 422


def test_one_customer_status_history_and_reasons(api):
    client, tokens, _engine, _queued = api
    h = _h(tokens["read"])
    mover = client.get("/api/v1/runs/3/changes", headers=h).get_json()["items"][0]
    customer = client.get(f"/api/v1/customers/{mover['customer_id']}", headers=h).get_json()
    assert customer["current_run_id"] == 3 and len(customer["history"]) == 3
    assert customer["status"] == ("insider" if mover["kind"] == "entered" else "not_insider")
    assert any(r["run_id"] == 3 and r["kind"] == mover["kind"] for r in customer["reasons"])
    assert client.get("/api/v1/customers/1", headers=h).status_code == 404


def test_a_customers_reasons_do_not_show_the_wording_mark(api):
    """The worker marks each reason's details with its wording version (for the dashboard's
    readers); the API shows the details without that mark."""
    client, tokens, engine, _queued = api
    mover = client.get("/api/v1/runs/3/changes", headers=_h(tokens["read"])).get_json()["items"][0]
    with session_scope(engine) as session:
        event = session.scalars(select(MembershipEvent).where(
            MembershipEvent.customer_id == mover["customer_id"],
            MembershipEvent.run_id == 3)).one()
        event.details = {**event.details, "wording": wording("£")}
    customer = client.get(f"/api/v1/customers/{mover['customer_id']}",
                          headers=_h(tokens["read"])).get_json()
    shown = next(r["details"] for r in customer["reasons"] if r["run_id"] == 3)
    assert "wording" not in shown and shown["feature"] == "gross_revenue"
    assert without_wording({"feature": "x", "wording": {"version": 1}}) == {"feature": "x"}


def test_post_runs_starts_a_run_then_409_then_rate_limited(api):
    client, tokens, engine, queued = api
    h = _h(tokens["run"])
    started = client.post("/api/v1/runs", headers=h, json={"refit": True})
    assert started.status_code == 202
    body = started.get_json()
    assert queued == [body["run_id"]] and started.headers["Location"] == body["url"]
    poll = client.get(body["url"], headers=h).get_json()
    assert poll["status"] == "queued" and poll["requested_by"] == "token:run"
    busy = client.post("/api/v1/runs", headers=h, json={})
    assert busy.status_code == 409 and busy.get_json()["run_id"] == body["run_id"]
    assert client.post("/api/v1/runs", headers=h, json={}).status_code == 429
    with session_scope(engine) as session:
        actions = [a.action for a in session.scalars(select(AuditEntry).where(
            AuditEntry.username == "token:run").order_by(AuditEntry.id))]
    assert actions == ["run_requested", "run_queued", "run_requested", "run_already_active",
                       "run_refused"]


def test_a_post_to_the_api_needs_no_origin_but_the_dashboard_still_does(api):
    client, tokens, _engine, _queued = api
    assert client.post("/api/v1/runs", headers=_h(tokens["run"]), json={}).status_code == 202
    assert client.post("/_dash-update-component", json={}).status_code == 403
    assert client.post("/_dash-update-component", json={}, headers=ORIGIN).status_code == 401


def test_the_document_and_the_docs(api):
    client, _tokens, _engine, _queued = api
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["security"] == [{"BearerToken": []}]
    assert "/runs/current/changes" in spec["paths"]
    assert all(not path.startswith(("/_dash", "/login")) for path in spec["paths"])
    assert client.get("/api/v1/docs").status_code == 200


def test_the_admin_page_lists_tokens_and_revokes_one(api):
    client, tokens, _engine, _queued = api
    assert login(client, ADMIN, PASSWORD).status_code == 302
    assert "API tokens" in page(client, "/admin").get_data(as_text=True)
    rows = call(client, [("ad-tokens", "rowData")], [("ad-poll", "n_intervals", 1),
                                                     ("ad-token-message", "children", None)])
    assert rows.status_code == 200, rows.get_data(as_text=True)[:300]
    listed = rows.get_json()["response"]["ad-tokens"]["rowData"]
    assert {r["name"]: r["status"] == "active" for r in listed} == {
        "read": True, "run": True, "old": False}
    assert "ins_" not in rows.get_data(as_text=True)
    done = call(client, [("ad-token-message", "children")], [("ad-token-revoke", "n_clicks", 1)],
                [("ad-token-name", "value", "read")])
    assert "revoked" in done.get_data(as_text=True)
    assert client.get("/api/v1/runs", headers=_h(tokens["read"])).status_code == 401
