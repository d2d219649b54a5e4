"""The dashboard over HTTP (Flask test client): login, the guard on every Dash endpoint,
each page and callback, roles, the run refusal paths and the audit log."""

from __future__ import annotations

import io
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pandas as pd
import pytest
from sqlalchemy import func, insert, select, update

import migrations
from dashboard.app import create_app, serve
from dashboard.auth import claim_run_request
from dashboard.widgets import started_by
from settings import SettingsError, load_settings
from store.db import make_engine, session_scope
from store.labels import LabelStage
from store.results import publish_run_labels
from store.schema import AuditEntry, Cluster, CustomerLabel, Run
from store.users import save_user
from tests.dashboard_seed import ORIGIN, call, login, page, seed

ADMIN, VIEWER, PASSWORD = "ada", "vic", "correct-horse-1"


def _app(tmp_path, seeded: bool, **env):
    url = f"sqlite:///{tmp_path / 'insiders.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    if seeded:
        seed(engine)
    settings = load_settings({"INSIDERS_DATA_DIR": str(tmp_path), "INSIDERS_DATABASE_URL": url,
                              "INSIDERS_ADMIN_USER": ADMIN, "INSIDERS_ADMIN_PASSWORD": PASSWORD,
                              **env})
    with session_scope(engine) as session:
        save_user(session, VIEWER, PASSWORD, "viewer")
    return create_app(settings, engine), engine


@pytest.fixture
def app_engine(tmp_path):
    app, engine = _app(tmp_path, seeded=True, INSIDERS_RUN_RATE_LIMIT="2 per minute")
    yield app, engine
    engine.dispose()


@pytest.fixture
def admin(app_engine):
    client = app_engine[0].server.test_client()
    assert login(client, ADMIN, PASSWORD).status_code == 302
    return client


@pytest.fixture
def viewer(app_engine):
    client = app_engine[0].server.test_client()
    assert login(client, VIEWER, PASSWORD).status_code == 302
    return client


def _text(response) -> str:
    return response.get_data(as_text=True)


def test_every_dash_endpoint_needs_a_session(app_engine):
    client = app_engine[0].server.test_client()
    assert client.get("/").status_code == 302
    assert client.get("/").headers["Location"].startswith("/login")
    for path in ("/_dash-layout", "/_dash-dependencies", "/changes"):
        response = client.get(path)
        assert response.status_code in (302, 401), path
    assert page(client, "/").status_code == 401
    no_origin = client.post("/_dash-update-component", json={"output": "x.children"})
    assert no_origin.status_code == 403


def test_cross_site_post_is_refused_even_when_logged_in(admin):
    body = {"output": "x.children", "inputs": [], "state": []}
    foreign = admin.post("/_dash-update-component", json=body,
                         headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403


def test_login_needs_the_csrf_token_and_the_right_password(app_engine):
    client = app_engine[0].server.test_client()
    no_token = client.post("/login", data={"username": ADMIN, "password": PASSWORD},
                           headers=ORIGIN)
    assert no_token.status_code == 401
    assert login(client, ADMIN, "wrong-password").status_code == 401
    response = login(client, ADMIN, PASSWORD)
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    with session_scope(app_engine[1]) as session:
        actions = session.scalars(select(AuditEntry.action)).all()
    assert "login_failed" in actions and "login" in actions


def test_login_never_redirects_to_another_site(app_engine):
    client = app_engine[0].server.test_client()
    page_html = _text(client.get("/login?next=//evil.example/x"))
    token = page_html.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
    response = client.post("/login?next=//evil.example/x", headers=ORIGIN,
                           data={"csrf_token": token, "username": ADMIN, "password": PASSWORD})
    assert response.headers["Location"] == "/"


def test_logout_is_a_post_with_a_token(admin):
    admin.get("/logout")  # a GET (a link on another site) does not log out
    assert admin.post("/logout", headers=ORIGIN).status_code == 400
    assert page(admin, "/").status_code == 200
    token = _text(admin.get("/_dash-layout")).split('"name":"csrf_token"', 1)[0]
    token = token.rsplit('"value":"', 1)[1].split('"', 1)[0]
    assert admin.post("/logout", data={"csrf_token": token}, headers=ORIGIN).status_code == 302
    assert page(admin, "/").status_code == 401


@pytest.mark.parametrize("path, search, expected", [
    ("/", "", "Insiders by as-of date"),
    ("/", "", "Cluster profiles"),
    ("/changes", "", "From date (data as of)"),
    ("/customer", "?id=12011", "Customer"),
    ("/report", "", "Who are the Insiders?"),
    ("/admin", "", "Start a run"),
])
def test_pages_render_for_an_admin(admin, path, search, expected):
    response = page(admin, path, search)
    assert response.status_code == 200
    assert expected in _text(response)


def test_viewer_sees_no_admin_page_and_cannot_start_a_run(viewer, app_engine):
    layout = _text(viewer.get("/_dash-layout"))
    assert '"Admin"' not in layout and '"Overview"' in layout
    assert "Admins only" in _text(page(viewer, "/admin"))
    response = call(viewer, [("ad-message", "children")], [("ad-run-now", "n_clicks", 1)],
                    [("ad-refit", "value", False)])
    assert response.status_code == 200
    assert "Only an admin can start a run" in _text(response)
    with session_scope(app_engine[1]) as session:
        assert session.scalar(select(func.count()).select_from(Run)) == 4
        refused = session.scalars(select(AuditEntry).where(AuditEntry.action == "run_refused"))
        assert [a.username for a in refused] == [VIEWER]


def test_run_requests_are_rate_limited(admin, app_engine):
    with session_scope(app_engine[1]) as session:
        for _ in range(2):
            session.add(AuditEntry(at=datetime.now(UTC), username=ADMIN,
                                   action="run_requested", details={}))
    response = call(admin, [("ad-message", "children")], [("ad-run-now", "n_clicks", 1)],
                    [("ad-refit", "value", False)])
    assert "Too many requests" in _text(response)
    with session_scope(app_engine[1]) as session:
        assert session.scalar(select(func.count()).select_from(Run)) == 4


def test_overview_scatter_and_changes_callbacks(admin):
    scatter = call(admin, [("ov-scatter", "figure")], [("ov-run", "data", 3)])
    assert scatter.status_code == 200 and "scattergl" in _text(scatter)
    changes = call(admin, [("ch-entered", "children"), ("ch-exited", "children"),
                           ("ch-counts", "children"), ("ch-grid", "rowData"),
                           ("ch-sankey", "figure")],
                   [("ch-from", "value", 2), ("ch-to", "value", 3), ("ch-kind", "value", "exited")])
    body = changes.get_json()["response"]
    assert body["ch-sankey"]["figure"]["data"][0]["type"] == "sankey"
    rows = body["ch-grid"]["rowData"]
    assert rows and all(row["kind"] == "exited" for row in rows)
    assert body["ch-exited"]["children"] == str(len(rows))
    assert int(body["ch-entered"]["children"]) > 0


def test_one_date_with_more_moves_than_the_grid_holds_shows_who_spent_the_most(
        admin, app_engine, monkeypatch):
    from dashboard import cache
    from dashboard.pages import changes as changes_page

    outputs = [("ch-entered", "children"), ("ch-exited", "children"), ("ch-counts", "children"),
               ("ch-grid", "rowData"), ("ch-sankey", "figure")]
    picked = [("ch-from", "value", 2), ("ch-to", "value", 3), ("ch-kind", "value", "all")]
    whole = call(admin, outputs, picked).get_json()["response"]
    assert "spent the most" not in whole["ch-counts"]["children"]
    cache.clear()
    monkeypatch.setattr(changes_page, "MAX_GRID_ROWS", 3)
    bounded = call(admin, outputs, picked).get_json()["response"]
    rows, every = bounded["ch-grid"]["rowData"], whole["ch-grid"]["rowData"]
    assert len(every) > 3 and len(rows) == 3
    for count in ("ch-entered", "ch-exited"):  # the counts are still of every move
        assert bounded[count]["children"] == whole[count]["children"]
    assert f"The list shows the 3 of {len(every)} customers who spent the most" in (
        bounded["ch-counts"]["children"])
    moves = changes_page.data.changes(2, 3, app_engine[1])
    moves["spent"] = moves["after_gross_revenue"].where(moves["kind"] == "entered",
                                                        moves["before_gross_revenue"])
    top = moves.sort_values(["spent", "customer_id"], ascending=[False, True]).head(3)
    assert sorted(row["customer_id"] for row in rows) == sorted(top["customer_id"])


def test_customer_callback_shows_status_and_reasons(admin):
    response = call(admin, [("cu-result", "children")],
                    [("cu-find", "n_clicks", 1), ("cu-input", "value", 12011)],
                    [("cu-input", "value", 12011)])
    text = _text(response)
    assert "Customer 12011: Insider since" in text or "Customer 12011: Left" in text
    assert "spent £" in text and "in total, above the entry level of £3,000.00" in text
    unknown = call(admin, [("cu-result", "children")],
                   [("cu-find", "n_clicks", 1), ("cu-input", "value", 5)],
                   [("cu-input", "value", 5)])
    assert "is in no run" in _text(unknown)


def test_report_downloads(admin):
    markdown = call(admin, [("re-markdown", "data")], [("re-markdown-button", "n_clicks", 1)],
                    [("re-run", "data", 3)]).get_json()["response"]["re-markdown"]["data"]
    assert markdown["content"].startswith("# Insiders report")
    assert "## 7." in markdown["content"]
    csv = call(admin, [("re-csv", "data")], [("re-csv-button", "n_clicks", 1)],
               [("re-run", "data", 3)]).get_json()["response"]["re-csv"]["data"]
    header, *rows = csv["content"].strip().splitlines()
    assert header.startswith("customer_id,cluster,cluster_name")
    assert rows


def test_admin_poll_shows_history_failures_and_progress(admin, app_engine):
    out = [("ad-progress", "children"), ("ad-history", "rowData"), ("ad-failed", "children"),
           ("ad-audit", "rowData")]
    inputs = [("ad-poll", "n_intervals", 1), ("ad-message", "children", None)]
    body = call(admin, out, inputs).get_json()["response"]
    assert [row["id"] for row in body["ad-history"]["rowData"]] == [4, 3, 2, 1]
    assert "no transactions after" in str(body["ad-failed"]["children"])
    with app_engine[1].begin() as conn:
        conn.execute(insert(Run).values(
            id=5, status="running", active_slot=True, trigger="manual", requested_by=ADMIN,
            queued_at=datetime.now(UTC), started_at=datetime.now(UTC), progress_stage="embed",
            progress_percent=42.0, parameters={}, metrics={}, report={}))
    body = call(admin, out, inputs).get_json()["response"]
    assert "Run #5 running · embed · 42%" in str(body["ad-progress"]["children"])
    assert "Run #5 is running" in _text(page(admin, "/"))


def test_empty_database_explains_itself(tmp_path):
    app, engine = _app(tmp_path, seeded=False)
    client = app.server.test_client()
    login(client, ADMIN, PASSWORD)
    for path in ("/", "/report"):
        assert "No runs yet" in _text(page(client, path))
    assert "Changes appear after the second run" in _text(page(client, "/changes"))
    with engine.begin() as conn:
        conn.execute(insert(Run).values(
            id=1, status="failed", trigger="manual", queued_at=datetime.now(UTC),
            error="ValueError: boom", parameters={}, metrics={}, report={}))
    shown = _text(page(client, "/"))
    assert "Run #1 failed: boom." in shown and "ValueError" not in shown
    engine.dispose()


def test_production_without_secret_key_is_a_clear_startup_error():
    with pytest.raises(SettingsError, match="INSIDERS_SECRET_KEY"):
        create_app(load_settings({"INSIDERS_ENV": "production",
                                  "INSIDERS_DATABASE_URL": "postgresql+psycopg://x/y",
                                  "INSIDERS_BROKER_URL": "redis://x"}))


def test_debug_is_off_unless_asked(app_engine):
    assert app_engine[0].server.debug is False


def test_password_guessing_is_rate_limited(app_engine):
    client = app_engine[0].server.test_client()
    statuses = [login(client, ADMIN, f"guess-{i}").status_code for i in range(12)]
    assert statuses[:10] == [401] * 10
    assert statuses[-1] == 429


@pytest.mark.parametrize("grid, button", [("ov-profiles", "ov-export"),
                                          ("ad-history", "ad-export")])
def test_grids_export_csv(admin, grid, button):
    response = call(admin, [(grid, "exportDataAsCsv")], [(button, "n_clicks", 1)])
    assert response.get_json()["response"][grid]["exportDataAsCsv"] is True


def test_changes_export_names_both_runs_and_holds_numbers(admin):
    link = call(admin, [("ch-export", "href")], [("ch-from", "value", 3)],
                [("ch-to", "value", 2)]).get_json()["response"]["ch-export"]["href"]
    response = admin.get(link)  # the dates picked the other way round: shown in order
    assert response.status_code == 200 and response.content_type == "text/csv; charset=utf-8"
    filename = response.headers["Content-Disposition"].split("filename=")[1].strip('"')
    assert re.fullmatch(r"insiders-changes-run-2-\d{4}-\d\d-\d\d-to-run-3-\d{4}-\d\d-\d\d\.csv",
                        filename)
    table = pd.read_csv(io.StringIO(response.get_data(as_text=True)))
    assert set(table["run_from"]) == {2} and set(table["run_to"]) == {3} and len(table)
    assert pd.api.types.is_numeric_dtype(table["change_gross_revenue"])


@pytest.mark.parametrize("query", ["from=2&to=2", "from=2&to=999", "from=x&to=3", ""])
def test_a_changes_export_of_runs_not_available_says_so(admin, query):
    response = admin.get(f"/download/changes.csv?{query}")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    assert "not-available.txt" in response.headers["Content-Disposition"]
    assert "This run is not available" in response.get_data(as_text=True)


def test_a_changes_export_needs_a_signed_in_user(app_engine):
    response = app_engine[0].server.test_client().get("/download/changes.csv?from=2&to=3")
    assert response.status_code in (302, 401) and b"customer_id" not in response.data


def _copy_run(engine, source: int, target: int) -> None:
    """Give ``target`` the labels, clusters, report and as-of of ``source``, then succeed it."""
    with engine.begin() as conn:
        for table, into in ((CustomerLabel.__table__, LabelStage.__table__),
                            (Cluster.__table__, Cluster.__table__)):
            rows = [dict(row._mapping) for row in conn.execute(
                select(table).where(table.c.run_id == source))]
            for row in rows:
                row.pop("id", None)
                row["run_id"] = target
                if into is LabelStage.__table__:
                    row.update(embedding_x=0.0, embedding_y=0.0)
            conn.execute(insert(into), rows)
        run = conn.execute(select(Run.as_of, Run.report, Run.n_customers)
                           .where(Run.id == source)).one()
        conn.execute(update(Run).where(Run.id == target).values(
            status="succeeded", active_slot=None, as_of=run.as_of, report=run.report,
            n_customers=run.n_customers))
        publish_run_labels(conn, target)


def _download(client, kind: str, run_id) -> dict:
    return call(client, [(f"re-{kind}", "data")], [(f"re-{kind}-button", "n_clicks", 1)],
                [("re-run", "data", run_id)]).get_json()["response"][f"re-{kind}"]["data"]


def test_a_run_not_yet_succeeded_is_refused_and_never_cached(viewer, app_engine):
    engine = app_engine[1]
    with engine.begin() as conn:
        conn.execute(insert(Run).values(
            id=5, status="running", active_slot=True, trigger="manual",
            queued_at=datetime.now(UTC), parameters={}, metrics={}, report={}))
    for kind in ("csv", "markdown"):
        assert "not available" in _download(viewer, kind, 5)["content"]
    scatter = call(viewer, [("ov-scatter", "figure")], [("ov-run", "data", 5)])
    assert "not available" in _text(scatter)
    _copy_run(engine, 3, 5)
    header, *rows = _download(viewer, "csv", 5)["content"].strip().splitlines()
    assert header.startswith("customer_id") and rows
    assert "as of 2011-" in _download(viewer, "markdown", 5)["content"]
    assert "scattergl" in _text(call(viewer, [("ov-scatter", "figure")], [("ov-run", "data", 5)]))


@pytest.mark.parametrize("run_id", ["3 OR 1=1", "x", 3.5, None, [3], {"id": 3}])
def test_a_run_id_that_is_not_an_integer_gets_a_message(viewer, run_id):
    assert "not available" in _download(viewer, "csv", run_id)["content"]
    changes = call(viewer, [("ch-entered", "children"), ("ch-exited", "children"),
                            ("ch-counts", "children"), ("ch-grid", "rowData"),
                            ("ch-sankey", "figure")],
                   [("ch-from", "value", run_id), ("ch-to", "value", 3),
                    ("ch-kind", "value", "all")])
    assert changes.status_code == 200 and "not available" in _text(changes)


def test_every_callback_refuses_a_request_without_a_session(admin, app_engine):
    callbacks = admin.get("/_dash-dependencies").get_json()
    assert len(callbacks) >= 10
    anonymous = app_engine[0].server.test_client()
    for callback in callbacks:
        outputs = callback["output"].strip(".").split("...")
        body = {"output": callback["output"],
                "outputs": [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1]}
                            for o in outputs],
                "inputs": [{**i, "value": 1} for i in callback["inputs"]],
                "state": [{**s, "value": 1} for s in callback["state"]],
                "changedPropIds": []}
        response = anonymous.post("/_dash-update-component", json=body, headers=ORIGIN)
        assert response.status_code == 401, callback["output"]


def test_every_response_carries_the_security_headers(admin):
    for response in (admin.get("/login"), page(admin, "/"), admin.get("/_dash-layout")):
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_the_session_cookie_is_secure_only_over_https(app_engine):
    server = app_engine[0].server
    plain = login(server.test_client(), ADMIN, PASSWORD).headers["Set-Cookie"]
    assert "Secure" not in plain
    secure_client = server.test_client()
    form = secure_client.get("/login", base_url="https://localhost").get_data(as_text=True)
    token = form.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
    response = secure_client.post("/login", base_url="https://localhost",
                                  headers={"Origin": "https://localhost"},
                                  data={"csrf_token": token, "username": ADMIN,
                                        "password": PASSWORD})
    assert response.status_code == 302 and "Secure" in response.headers["Set-Cookie"]


def test_the_development_secret_only_serves_on_loopback(monkeypatch):
    monkeypatch.delenv("INSIDERS_SECRET_KEY", raising=False)
    with pytest.raises(SystemExit, match="INSIDERS_SECRET_KEY"):
        serve("0.0.0.0", 8050)


def test_the_run_rate_limit_holds_under_concurrent_requests(app_engine):
    engine = app_engine[1]
    with ThreadPoolExecutor(20) as pool:
        granted = list(pool.map(lambda _: claim_run_request(engine, "5 per minute", ADMIN, {}),
                                range(20)))
    assert sum(granted) == 5


@pytest.mark.parametrize("typed, expected", [
    ("1" * 40, "No customer has the id"), ("1.5", "is not a customer id"),
    ("-1", "is not a customer id"), ("<script>alert(1)</script>", "No customer matches"),
    (["12011", "5"], "Customer 12011:"), (True, "Type a customer id")])
def test_the_customer_box_answers_anything(admin, typed, expected):
    response = call(admin, [("cu-result", "children")],
                    [("cu-find", "n_clicks", 1), ("cu-input", "value", typed)],
                    [("cu-input", "value", typed)])
    assert response.status_code == 200 and expected in _text(response)
    assert "Customer 1:" not in _text(response)


def test_runs_and_audit_entries_read_as_words(admin):
    assert started_by({"trigger": "backfill", "requested_by": "root"}) == \
        "as part of a history backfill by root"
    assert started_by({"trigger": "schedule", "requested_by": "schedule"}) == "on schedule"
    body = call(admin, [("ad-progress", "children"), ("ad-history", "rowData"),
                        ("ad-failed", "children"), ("ad-audit", "rowData")],
                [("ad-poll", "n_intervals", 1), ("ad-message", "children", None)]).get_json()
    events = [row["event"] for row in body["response"]["ad-audit"]["rowData"]]
    assert events and all("{" not in e and e.endswith(".") for e in events)
    assert any(e.startswith("Signed in from ") for e in events)
