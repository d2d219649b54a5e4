"""The Admin page's webhooks section and the customer page's contact details, over HTTP
(Flask test client, embedded SQLite): admins add and replay, viewers are refused, customers
are found by email or name."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import select

from store import webhooks
from store.contacts import upsert_contacts
from store.db import session_scope
from store.schema import AuditEntry
from tests.dashboard_seed import ORIGIN, call, login
from tests.unit.test_dashboard_app import ADMIN, PASSWORD, VIEWER, _app

OUTPUTS = [("wh-message", "children"), ("wh-list", "children"), ("wh-deliveries", "rowData")]


@pytest.fixture
def app_engine(tmp_path, monkeypatch):
    monkeypatch.setattr("dashboard.webhooks.send_webhook_task", lambda _id: "queued")
    app, engine = _app(tmp_path, seeded=True)
    with engine.begin() as connection:
        upsert_contacts(connection, pd.DataFrame([
            {"customer_id": 12011, "email": "ann.lee@example.com", "name": "Ann Lee",
             "country": "France", "marketing_consent": True},
            {"customer_id": 12012, "email": "bo@example.com", "name": "Bo Lee",
             "country": "Spain", "marketing_consent": False}]))
    yield app, engine
    engine.dispose()


def client_for(app_engine, user):
    client = app_engine[0].server.test_client()
    assert login(client, user, PASSWORD).status_code == 302
    return client


def change(client, trigger: str | None, url="", events=(), replay_id=None):
    body = {
        "output": ".." + "...".join(f"{i}.{p}" for i, p in OUTPUTS) + "..",
        "outputs": [{"id": i, "property": p} for i, p in OUTPUTS],
        "inputs": [{"id": "wh-add", "property": "n_clicks", "value": 1},
                   [], {"id": "wh-replay", "property": "n_clicks", "value": 1}],
        "state": [{"id": "wh-url", "property": "value", "value": url},
                  {"id": "wh-events", "property": "value", "value": list(events)},
                  {"id": "wh-description", "property": "value", "value": "CRM"},
                  {"id": "wh-replay-id", "property": "value", "value": replay_id}],
        "changedPropIds": [f"{trigger}.n_clicks"] if trigger else [],
    }
    return client.post("/_dash-update-component", json=body, headers=ORIGIN)


def test_an_admin_adds_a_webhook_and_replays_a_delivery(app_engine):
    admin = client_for(app_engine, ADMIN)
    response = change(admin, "wh-add", url="https://crm.example.com/hook",
                      events=["run.succeeded"])
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "whsec_" in text and "crm.example.com" in text
    refused = change(admin, "wh-add", url="ftp://nowhere", events=["run.succeeded"])
    assert "must start with http" in refused.get_data(as_text=True)
    engine = app_engine[1]
    with session_scope(engine) as session:
        [subscription] = webhooks.list_subscriptions(session)
        webhooks.record_deliveries(session.connection(), [subscription.id], "run.succeeded",
                                   [{"run_id": 1}], run_id=1)
        [delivery_id] = webhooks.pending_delivery_ids(session)
        webhooks.get_delivery(session, delivery_id).status = webhooks.FAILED
    replayed = change(admin, "wh-replay", replay_id=delivery_id)
    assert "will be sent again" in replayed.get_data(as_text=True)
    with session_scope(engine) as session:
        assert webhooks.get_delivery(session, delivery_id).status == webhooks.PENDING
        actions = session.scalars(select(AuditEntry.action)).all()
    assert {"webhook_added", "webhook_replayed"} <= set(actions)


def test_opening_the_page_lists_webhooks_and_each_deliverys_last_answer(app_engine):
    engine = app_engine[1]
    with session_scope(engine) as session:
        subscription = webhooks.add_subscription(session, "https://crm.example.com/hook",
                                                 ["run.succeeded"], created_by="admin")
        webhooks.record_deliveries(session.connection(), [subscription.id], "run.succeeded",
                                   [{"run_id": 1}, {"run_id": 2}], run_id=1)
        first, second = sorted(webhooks.pending_delivery_ids(session))
        for code, excerpt in ((503, "busy"), (200, "thanks")):
            webhooks.record_attempt(session, webhooks.get_delivery(session, first),
                                    status_code=code, duration_ms=5, response_excerpt=excerpt,
                                    error=None, retry_after=None)
    admin = client_for(app_engine, ADMIN)
    answer = change(admin, None).get_json()["response"]
    assert answer["wh-message"]["children"] is None
    assert "crm.example.com" in str(answer["wh-list"]["children"])
    rows = {row["id"]: row for row in answer["wh-deliveries"]["rowData"]}
    assert set(rows) == {first, second}
    assert rows[first]["last_answer"].startswith("200 at ")
    assert rows[first]["last_answer"].endswith(": thanks")
    assert rows[second]["last_answer"] == ""


def test_a_viewer_cannot_change_webhooks(app_engine):
    viewer = client_for(app_engine, VIEWER)
    response = change(viewer, "wh-add", url="https://crm.example.com/hook",
                      events=["run.succeeded"])
    assert "Only an admin can change webhooks" in response.get_data(as_text=True)
    with session_scope(app_engine[1]) as session:
        assert webhooks.list_subscriptions(session) == []


@pytest.mark.parametrize("typed, expected, absent", [
    ("12011", "ann.lee@example.com", "pick one"),
    ("ANN.LEE@example.com", "agrees to marketing messages", "pick one"),
    ("lee", "2 customers match", "agrees to"),
    ("nobody", "No customer matches", "pick one"),
])
def test_the_customer_page_shows_contacts_and_finds_by_email_or_name(app_engine, typed,
                                                                     expected, absent):
    admin = client_for(app_engine, ADMIN)
    response = call(admin, [("cu-result", "children")], [("cu-find", "n_clicks", 1),
                                                         ("cu-input", "value", typed)],
                    [("cu-input", "value", typed)])
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and expected in text and absent not in text
