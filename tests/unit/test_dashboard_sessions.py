"""Sessions end when they should: a cookie saved before a logout, a password change or a role
change no longer opens the dashboard (a per-user session version)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import migrations
from cli import cli
from dashboard.app import create_app
from settings import load_settings
from store.db import make_engine, session_scope
from store.users import save_user
from tests.dashboard_seed import ORIGIN, login, page

ADMIN, VIEWER, PASSWORD = "ada", "vic", "correct-horse-1"
COOKIE = "session"


@pytest.fixture
def app_engine(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'insiders.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    env = {"INSIDERS_DATA_DIR": str(tmp_path), "INSIDERS_DATABASE_URL": url,
           "INSIDERS_ADMIN_USER": ADMIN, "INSIDERS_ADMIN_PASSWORD": PASSWORD}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with session_scope(engine) as session:
        save_user(session, VIEWER, PASSWORD, "viewer")
    yield create_app(load_settings(env), engine), engine
    engine.dispose()


def _signed_in(app, username: str):
    client = app.server.test_client()
    assert login(client, username, PASSWORD).status_code == 302
    return client


def _replay(app, cookie: str):
    """A new browser that only has ``cookie``: the saved session cookie."""
    client = app.server.test_client()
    client.set_cookie(COOKIE, cookie)
    return client


def _refused(client) -> bool:
    redirected = client.get("/")
    return (redirected.status_code == 302 and redirected.headers["Location"].startswith("/login")
            and page(client, "/").status_code == 401)


def _logout(client) -> None:
    layout = client.get("/_dash-layout").get_data(as_text=True)
    token = layout.split('"name":"csrf_token"', 1)[0].rsplit('"value":"', 1)[1].split('"', 1)[0]
    assert client.post("/logout", data={"csrf_token": token}, headers=ORIGIN).status_code == 302


def test_a_cookie_saved_before_logout_is_refused(app_engine):
    app = app_engine[0]
    client = _signed_in(app, VIEWER)
    saved = client.get_cookie(COOKIE).value
    assert page(_replay(app, saved), "/").status_code == 200
    _logout(client)
    assert _refused(_replay(app, saved))
    assert _refused(client)
    again = _signed_in(app, VIEWER)
    assert page(again, "/").status_code == 200


def test_logout_ends_the_users_other_sessions_too(app_engine):
    app = app_engine[0]
    laptop, phone = _signed_in(app, VIEWER), _signed_in(app, VIEWER)
    other_user = _signed_in(app, ADMIN)
    _logout(laptop)
    assert _refused(phone)
    assert page(other_user, "/").status_code == 200


@pytest.mark.parametrize("password, role", [("a-new-password-2", "viewer"), (PASSWORD, "admin")])
def test_a_password_or_role_change_ends_sessions(app_engine, password, role):
    app = app_engine[0]
    saved = _signed_in(app, VIEWER).get_cookie(COOKIE).value
    result = CliRunner().invoke(cli, ["user", "add", VIEWER, "--role", role,
                                      "--password", password])
    assert result.exit_code == 0, result.output
    assert _refused(_replay(app, saved))


def test_saving_the_same_password_and_role_keeps_sessions(app_engine):
    app, engine = app_engine
    client = _signed_in(app, VIEWER)
    with session_scope(engine) as session:
        save_user(session, VIEWER, PASSWORD, "viewer")
    create_app(load_settings(), engine)  # saves the admin of the settings again
    assert page(client, "/").status_code == 200
    assert page(_signed_in(app, ADMIN), "/").status_code == 200
