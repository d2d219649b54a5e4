"""The login form's answers: a rate limit that lifts after its window and says how long to wait,
and an incomplete form that says what is missing."""

from __future__ import annotations

import re
import time

import pytest

import migrations
from dashboard import auth
from dashboard.app import create_app
from settings import load_settings
from store.db import make_engine
from tests.dashboard_seed import ORIGIN, login

ADMIN, PASSWORD = "ada", "correct-horse-1"
WINDOW_SECONDS = 2


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.setattr(auth, "LOGIN_RATE", f"3 per {WINDOW_SECONDS} seconds")
    url = f"sqlite:///{tmp_path / 'insiders.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    settings = load_settings({"INSIDERS_DATA_DIR": str(tmp_path), "INSIDERS_DATABASE_URL": url,
                              "INSIDERS_ADMIN_USER": ADMIN, "INSIDERS_ADMIN_PASSWORD": PASSWORD})
    yield create_app(settings, engine).server.test_client()
    engine.dispose()


def _token(client) -> str:
    html = client.get("/login").get_data(as_text=True)
    return html.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]


def _text(response) -> str:
    return response.get_data(as_text=True)


def test_a_limited_login_says_how_long_to_wait_then_accepts_the_right_password(client):
    for attempt in range(3):
        assert login(client, ADMIN, f"guess-{attempt}").status_code == 401
        if attempt == 0:  # the first failure is counted by now: the window ends by then + WINDOW
            started = time.monotonic()
    limited = login(client, ADMIN, PASSWORD)
    assert limited.status_code == 429
    wait = re.search(r"Too many attempts: try again in (\d+) seconds?\.", _text(limited))
    assert wait, _text(limited)
    assert 1 <= int(wait.group(1)) <= WINDOW_SECONDS
    assert int(limited.headers["Retry-After"]) == int(wait.group(1))
    assert 'name="username"' in _text(limited)  # the form again, not a bare error page
    time.sleep(max(0.0, WINDOW_SECONDS + 0.2 - (time.monotonic() - started)))
    assert login(client, ADMIN, PASSWORD).status_code == 302


def test_a_successful_login_does_not_count_against_the_limit(client):
    for _ in range(5):
        assert login(client.application.test_client(), ADMIN, PASSWORD).status_code == 302
    assert login(client, ADMIN, "wrong-password").status_code == 401


@pytest.mark.parametrize("username, password, expected", [
    ("", "", "Enter your username and password."),
    (ADMIN, "", "Enter your password."),
    ("", PASSWORD, "Enter your username."),
])
def test_an_incomplete_form_says_what_is_missing(client, username, password, expected):
    response = client.post("/login", headers=ORIGIN, data={
        "csrf_token": _token(client), "username": username, "password": password})
    assert response.status_code == 401
    assert expected in _text(response) and "expired" not in _text(response)


def test_a_form_without_its_token_says_it_expired(client):
    response = client.post("/login", headers=ORIGIN,
                           data={"username": ADMIN, "password": PASSWORD})
    assert response.status_code == 401 and "expired" in _text(response)
