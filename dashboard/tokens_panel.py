"""The Admin page's API tokens: the list (never a secret) and revoking one by name.

Tokens are created with ``insiders token create`` (the secret is shown once, in a terminal);
revoking here is checked on the server (admins only) and audited.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update

from dashboard import auth, charts, ids, widgets
from dashboard.config import app_engine
from store.db import session_scope
from store.tokens import TokenError, list_tokens, revoke_token

TOKENS = "ad-tokens"
TOKEN_NAME = "ad-token-name"
TOKEN_REVOKE = "ad-token-revoke"
TOKEN_MESSAGE = "ad-token-message"


def panel() -> html.Div:
    return html.Div([
        html.H4("API tokens", className="mt-3"),
        html.P(["Create one per integration with ", html.Code("insiders token create NAME "
                "--scope read|run"), "; the API's documentation is at ",
                html.A("/api/v1/docs", href="/api/v1/docs"), "."], className="text-muted"),
        charts.grid(TOKENS, [], [
            {"field": "name", "headerName": "Name"}, {"field": "scope", "headerName": "Scope"},
            {"field": "created_at", "headerName": "Created (UTC)"},
            {"field": "last_used_at", "headerName": "Last used (UTC)"},
            {"field": "status", "headerName": "Status"}], filename="tokens.csv"),
        dbc.InputGroup([dcc.Input(id=TOKEN_NAME, placeholder="token name", type="text",
                                  className="form-control"),
                        dbc.Button("Revoke", id=TOKEN_REVOKE, color="danger", outline=True)],
                       className="mt-2", style={"maxWidth": "420px"}),
        html.Div(id=TOKEN_MESSAGE, className="mt-2"),
    ])


def token_rows() -> list[dict]:
    with session_scope(app_engine()) as session:
        tokens = list_tokens(session)
    return [{"name": t.name, "scope": t.scope, "created_at": widgets.when(t.created_at),
             "last_used_at": widgets.when(t.last_used_at) if t.last_used_at else "never",
             "status": "active" if t.active else f"revoked {widgets.when(t.revoked_at)}"}
            for t in tokens]


def register_callbacks() -> None:
    """Called by the Admin page module, which Dash imports again for every app."""
    callback(Output(TOKENS, "rowData"), Input(ids.AD_POLL, "n_intervals"),
             Input(TOKEN_MESSAGE, "children"))(show_tokens)
    callback(Output(TOKEN_MESSAGE, "children"), Input(TOKEN_REVOKE, "n_clicks"),
             State(TOKEN_NAME, "value"), prevent_initial_call=True)(revoke)


def show_tokens(_n, _message):
    return token_rows() if auth.is_admin() else no_update


def revoke(_clicks, name: str | None):
    """Revoke a token by name: admins only (checked here, on the server), audited."""
    engine = app_engine()
    if not auth.is_admin():
        auth.audit(engine, "token_revoke_refused", {"reason": "not an admin"})
        return dbc.Alert("Only an admin can revoke a token.", color="danger", className="py-2")
    try:
        with session_scope(engine) as session:
            info = revoke_token(session, name or "")
    except TokenError as exc:
        return dbc.Alert(str(exc), color="warning", className="py-2")
    auth.audit(engine, "token_revoked", {"name": info.name})
    return dbc.Alert(f"Token {info.name} revoked: the API refuses it from now on.",
                     color="success", className="py-2")
