"""The Dash app: a navigation shell around the pages in ``dashboard/pages``, behind a login."""

from __future__ import annotations

from pathlib import Path

import dash
import dash_bootstrap_components as dbc
import flask
from dash import Input, Output, State, dcc, html
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy import Engine
from waitress import serve as waitress_serve

from dashboard import auth, downloads, ids, warmup
from dashboard.api import create_api, mount
from dashboard.config import ENGINE_KEY, SETTINGS_KEY, WARM_KEY
from dashboard.login import blueprint as login_blueprint
from settings import DEVELOPMENT_SECRET, Settings, load_settings
from store.db import get_engine

HERE = Path(__file__).parent
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def create_app(
    settings: Settings | None = None, engine: Engine | None = None, *, warm: bool = False
) -> dash.Dash:
    """A ready app; reads ``INSIDERS_*`` settings (raises SettingsError on a bad one).

    ``warm`` reads the current run's heavy answers in the background after each new run.
    """
    settings = settings or load_settings()
    if engine is None:
        engine = get_engine(settings.database_url)
        if settings.is_sqlite:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
    server = flask.Flask("dashboard")
    server.config[ENGINE_KEY] = engine
    server.config[SETTINGS_KEY] = settings
    server.config[WARM_KEY] = warm
    auth.init_auth(server, engine, settings)
    auth.limit_logins(server)
    server.register_blueprint(login_blueprint)
    server.register_blueprint(downloads.blueprint)
    mount(server, create_api(engine, settings))
    auth.trust_proxies(server, settings.trusted_proxies)
    app = dash.Dash(
        "dashboard",
        server=server,
        use_pages=True,
        pages_folder=str(HERE / "pages"),
        assets_folder=str(HERE / "assets"),
        title="Insiders",
        update_title=None,
        suppress_callback_exceptions=True,
        serve_locally=True,
    )
    app.layout = shell
    # the menu button of a narrow screen opens and closes the menu in the browser alone
    app.clientside_callback("function(clicks, open) { return !open; }",
                            Output(ids.SHELL_COLLAPSE, "is_open"),
                            Input(ids.SHELL_TOGGLER, "n_clicks"),
                            State(ids.SHELL_COLLAPSE, "is_open"), prevent_initial_call=True)
    # Dash moves callbacks declared with ``dash.callback`` into the first app that serves a
    # request; do it now so that several apps in one process (tests) each get their own.
    with server.test_request_context("/"):
        app._setup_server()
    auth.ensure_admin(engine, settings)
    if warm:
        warmup.warm_current(engine)
    return app


def _nav_links() -> list:
    links = []
    for page in dash.page_registry.values():
        if not page.get("in_navbar", True) or (page.get("admin_only") and not auth.is_admin()):
            continue
        links.append(dbc.NavItem(dbc.NavLink(page["name"], href=page["relative_path"],
                                             active="exact")))
    return links


def _user_menu() -> html.Div:
    if not current_user.is_authenticated:
        return html.Div()
    return html.Div(
        [
            html.Span(current_user.username, id=ids.SHELL_USER, className="text-white me-2"),
            dbc.Badge(current_user.role, color="light", text_color="primary", className="me-3"),
            html.Form(
                [dcc.Input(type="hidden", name="csrf_token", value=generate_csrf()),
                 dbc.Button("Log out", type="submit", size="sm", color="light", outline=True)],
                action="/logout", method="POST", className="d-inline",
            ),
        ],
        className="d-flex align-items-center",
    )


def shell() -> html.Div:
    """The page frame: navigation, the signed-in user and the routed page."""
    navbar = dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand("★ Insiders", href="/", className="fw-bold"),
                dbc.NavbarToggler(id=ids.SHELL_TOGGLER, n_clicks=0),
                dbc.Collapse(
                    [dbc.Nav(_nav_links(), navbar=True, className="me-auto"), _user_menu()],
                    id=ids.SHELL_COLLAPSE, is_open=False, navbar=True,
                ),
            ],
            fluid=True,
        ),
        color="primary",
        dark=True,
        className="mb-3",
    )
    return html.Div([navbar, dbc.Container(dash.page_container, fluid=True, className="pb-5")])


def serve(host: str, port: int) -> None:
    """Serve the dashboard (waitress; the Flask debugger only with INSIDERS_DEBUG=true)."""
    settings = load_settings()
    if host not in LOOPBACK and settings.secret_key in ("", DEVELOPMENT_SECRET):
        raise SystemExit(f"refusing to serve on {host} with the development secret key: "
                         "set INSIDERS_SECRET_KEY (or bind 127.0.0.1)")
    app = create_app(settings, warm=True)
    if settings.debug:
        app.run(host=host, port=port, debug=True, use_reloader=False)
        return
    # the customer map is a few MB of JSON: keep responses in memory (waitress spools
    # anything above 1 MB to a temporary file by default) and send them in large writes
    waitress_serve(app.server, host=host, port=port, threads=8, ident="insiders",
                   outbuf_overflow=64 * 2**20, outbuf_high_watermark=64 * 2**20,
                   send_bytes=2**20)
