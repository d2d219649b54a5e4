"""Behind a TLS-terminating proxy (INSIDERS_TRUSTED_PROXIES): the session cookie is Secure when
the browser used https, and forwarded headers are ignored when no proxy is trusted."""

from __future__ import annotations

import pytest
from sqlalchemy import select

import migrations
from dashboard.app import create_app
from dashboard.config import ENGINE_KEY
from settings import SettingsError, load_settings
from store.db import make_engine, session_scope
from store.schema import AuditEntry

ADMIN, PASSWORD = "ada", "correct-horse-1"
PROXIED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}


def _server(tmp_path, **env):
    url = f"sqlite:///{tmp_path / 'insiders.db'}"
    migrations.upgrade(url)
    settings = load_settings({"INSIDERS_DATA_DIR": str(tmp_path), "INSIDERS_DATABASE_URL": url,
                              "INSIDERS_ADMIN_USER": ADMIN, "INSIDERS_ADMIN_PASSWORD": PASSWORD,
                              **env})
    return create_app(settings, make_engine(url)).server


def _login_through_proxy(server):
    client = server.test_client()
    form = client.get("/login", headers=PROXIED).get_data(as_text=True)
    token = form.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
    return client.post("/login", headers={**PROXIED, "Origin": "https://localhost"},
                       data={"csrf_token": token, "username": ADMIN, "password": PASSWORD})


def test_behind_a_trusted_proxy_the_cookie_follows_the_forwarded_scheme(tmp_path):
    response = _login_through_proxy(_server(tmp_path, INSIDERS_TRUSTED_PROXIES="1"))
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]


def test_forwarded_headers_are_ignored_without_a_trusted_proxy(tmp_path):
    server = _server(tmp_path)
    client = server.test_client()
    form = client.get("/login", headers=PROXIED).get_data(as_text=True)
    token = form.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
    response = client.post("/login", headers={**PROXIED, "Origin": "http://localhost"},
                           data={"csrf_token": token, "username": ADMIN, "password": PASSWORD})
    assert response.status_code == 302
    assert "Secure" not in response.headers["Set-Cookie"]


def test_behind_a_trusted_proxy_the_client_address_is_the_forwarded_one(tmp_path):
    server = _server(tmp_path, INSIDERS_TRUSTED_PROXIES="1")
    _login_through_proxy(server)
    with session_scope(server.config[ENGINE_KEY]) as session:
        details = session.scalar(select(AuditEntry.details).where(AuditEntry.action == "login"))
    assert details == {"ip": "203.0.113.7"}


@pytest.mark.parametrize("value", ["-1", "two"])
def test_a_bad_proxy_count_is_refused(value):
    with pytest.raises(SettingsError, match="INSIDERS_TRUSTED_PROXIES"):
        load_settings({"INSIDERS_TRUSTED_PROXIES": value})
