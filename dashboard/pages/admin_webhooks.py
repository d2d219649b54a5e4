"""The Admin page's webhooks section: subscriptions (add, remove), deliveries, replay.

Not a page of its own: ``admin.layout`` shows ``section()`` and the admin module calls
``register_callbacks()`` (Dash re-runs page modules for each app, not the modules they import).
The callback checks the admin role on the server like every admin action; changes are audited.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, html, no_update

from dashboard import auth, charts, widgets
from dashboard import webhooks as hooks
from dashboard.config import app_engine
from store.webhooks import EVENT_TYPES

URL, EVENTS, DESCRIPTION = "wh-url", "wh-events", "wh-description"
ADD, MESSAGE, LIST, DELIVERIES = "wh-add", "wh-message", "wh-list", "wh-deliveries"
REPLAY_ID, REPLAY = "wh-replay-id", "wh-replay"
REMOVE = "wh-remove"


def section() -> html.Div:
    return html.Div([
        html.H4("Webhooks", className="mt-3"),
        html.P("Other systems (a CRM, an email tool) can be told when a run finishes: who "
               "entered and who left Insiders. Each message is signed; the receiver checks it "
               "with the secret shown when the webhook is added.", className="text-muted"),
        dbc.Row([
            dbc.Col(dbc.Input(id=URL, placeholder="https://crm.example.com/hooks/insiders"),
                    md=5),
            dbc.Col(dbc.Checklist(id=EVENTS, options=list(EVENT_TYPES),
                                  value=["run.succeeded", "run.failed"], inline=True), md=4),
            dbc.Col(dbc.Input(id=DESCRIPTION, placeholder="What it is (optional)"), md=2),
            dbc.Col(dbc.Button("Add", id=ADD, color="primary"), md=1),
        ], className="g-2 mb-2"),
        html.Div(id=MESSAGE),
        html.Div(id=LIST),
        html.H5("Recent deliveries", className="mt-3"),
        charts.grid(DELIVERIES, [], [
            {"field": "id", "headerName": "Delivery", "maxWidth": 110},
            {"field": "event_type", "headerName": "Event", "maxWidth": 170},
            {"field": "run_id", "headerName": "Run", "maxWidth": 90},
            {"field": "status", "headerName": "Status", "maxWidth": 120},
            {"field": "attempts", "headerName": "Attempts", "maxWidth": 110},
            {"field": "last_answer", "headerName": "Last answer", "flex": 2},
            {"field": "url", "headerName": "Sent to", "flex": 1},
            {"field": "message_id", "headerName": "webhook-id", "flex": 1}],
            filename="webhook-deliveries.csv"),
        dbc.InputGroup([
            dbc.Input(id=REPLAY_ID, type="number", min=1, placeholder="Delivery number"),
            dbc.Button("Send again", id=REPLAY, color="secondary"),
        ], className="mt-2", style={"maxWidth": "420px"}),
    ])


def subscription_list():
    if not auth.is_admin():
        return None
    rows = hooks.subscriptions()
    if not rows:
        return html.P("No webhooks yet.", className="text-muted")
    return dbc.ListGroup([dbc.ListGroupItem([
        html.Span(f"#{s['id']} {s['url']} · {s['events']}"
                  + (f" · {s['description']}" if s["description"] else "")),
        dbc.Button("Remove", id={"type": REMOVE, "index": s["id"]}, size="sm", color="danger",
                   outline=True, className="float-end"),
    ]) for s in rows])


def deliveries_rows() -> list[dict]:
    if not auth.is_admin():
        return []
    return [{**row, "created_at": widgets.when(row["created_at"])}
            for row in hooks.deliveries()]


def register_callbacks() -> None:
    callback(Output(MESSAGE, "children"), Output(LIST, "children"),
             Output(DELIVERIES, "rowData"), Input(ADD, "n_clicks"),
             Input({"type": REMOVE, "index": ALL}, "n_clicks"), Input(REPLAY, "n_clicks"),
             State(URL, "value"), State(EVENTS, "value"), State(DESCRIPTION, "value"),
             State(REPLAY_ID, "value"))(change)


def change(_add, removes, _replay, url, events, description, replay_id):
    """Add, remove or replay: admins only (checked here, on the server), audited. Called
    also when the page opens (nothing triggered): then it only lists, so the page's layout
    is sent without waiting for these reads."""
    engine = app_engine()
    trigger = ctx.triggered_id
    if trigger is None:
        return None, subscription_list(), deliveries_rows()
    if not auth.is_admin():
        return (dbc.Alert("Only an admin can change webhooks.", color="danger"), no_update,
                no_update)
    if isinstance(trigger, dict) and trigger.get("type") == REMOVE:
        if not any(removes):
            return no_update, no_update, no_update
        hooks.remove_subscription(trigger["index"])
        auth.audit(engine, "webhook_removed", {"id": trigger["index"]})
        message = dbc.Alert(f"Webhook #{trigger['index']} removed.", color="success")
    elif trigger == REPLAY:
        if not replay_id or not hooks.replay(int(replay_id)):
            return (dbc.Alert("There is no such delivery.", color="warning"), no_update,
                    no_update)
        auth.audit(engine, "webhook_replayed", {"delivery_id": int(replay_id)})
        message = dbc.Alert(f"Delivery {int(replay_id)} will be sent again.", color="success")
    else:
        try:
            new_id, secret = hooks.add_subscription((url or "").strip(), events or [],
                                                    description or "", auth.username())
        except ValueError as exc:
            return dbc.Alert(str(exc), color="warning"), no_update, no_update
        auth.audit(engine, "webhook_added", {"id": new_id, "url": url})
        message = dbc.Alert(["Webhook added. Give this secret to the receiver now; it is not "
                             "shown again: ", html.Code(secret)], color="success")
    return message, subscription_list(), deliveries_rows()
