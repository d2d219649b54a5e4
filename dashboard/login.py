"""The login and logout views: plain Flask, not a Dash page; accounts are read through
``store.users`` (the dashboard's only reads outside ``dashboard.data``, with ``auth``).

A Dash page renders through ``/_dash-update-component``, which answers only to a logged-in
session; so the login form is served by Flask, with a CSRF token (Flask-WTF).
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit

import flask
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import validate_csrf
from wtforms import PasswordField, StringField, ValidationError
from wtforms.validators import DataRequired, Length

from dashboard.auth import login_throttle, sign_in, sign_out
from dashboard.config import app_engine
from store.db import session_scope
from store.users import authenticate, record

blueprint = flask.Blueprint("auth", __name__)
STYLESHEET = "/assets/00-bootstrap-flatly.min.css"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Insiders</title>
<link rel="stylesheet" href="{{ css }}"></head>
<body class="bg-light">
<main class="container" style="max-width: 420px; margin-top: 12vh">
  <div class="card shadow-sm"><div class="card-body p-4">
    <h1 class="h3 mb-1">Insiders</h1>
    <p class="text-muted mb-4">Sign in to see who your most valuable customers are.</p>
    {% if error %}<div class="alert alert-danger py-2" role="alert">{{ error }}</div>{% endif %}
    <form method="post" action="{{ action }}" novalidate>
      {{ form.csrf_token }}
      <div class="mb-3"><label class="form-label" for="username">Username</label>
        {{ form.username(class_="form-control", autocomplete="username", autofocus=true) }}</div>
      <div class="mb-3"><label class="form-label" for="password">Password</label>
        {{ form.password(class_="form-control", autocomplete="current-password") }}</div>
      <button id="login-submit" class="btn btn-primary w-100" type="submit">Sign in</button>
    </form>
  </div></div>
  <p class="text-muted small mt-3 text-center">No account yet? Ask your Insiders
   administrator for one.</p>
</main></body></html>"""


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=100)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect to another host."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    return target if not parts.netloc and not parts.scheme else "/"


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated and flask.request.method == "GET":
        return flask.redirect(_safe_next(flask.request.args.get("next")))
    form = LoginForm()
    if flask.request.method != "POST":
        return _page(form)
    client = flask.request.remote_addr or "unknown"
    wait = login_throttle().wait_seconds(client)
    if wait:
        return _page(form, f"Too many attempts: try again in {_in_words(wait)}.", 429,
                     {"Retry-After": str(wait)})
    if not form.validate():
        return _page(form, _form_problem(form), 401)
    with session_scope(app_engine()) as session:
        account = authenticate(session, form.username.data, form.password.data)
        record(session, form.username.data[:100],
               "login" if account else "login_failed", {"ip": flask.request.remote_addr})
    if not account:
        login_throttle().failed(client)
        return _page(form, "Wrong username or password.", 401)
    sign_in(account)
    return flask.redirect(_safe_next(flask.request.args.get("next")))


def _page(form: LoginForm, error: str | None = None, status: int = 200,
          headers: dict[str, str] | None = None):
    html = flask.render_template_string(
        PAGE, form=form, error=error, css=STYLESHEET,
        action=flask.request.full_path.rstrip("?"),
    )
    return html, status, headers or {}


def _form_problem(form: LoginForm) -> str:
    """What is wrong with a form that did not validate, in the words a person needs."""
    missing = [field.label.text.lower() for field in (form.username, form.password)
               if not (field.data or "").strip()]
    if missing:
        return f"Enter your {' and '.join(missing)}."
    if "csrf_token" in form.errors:
        return "The form expired or your browser refused its cookie; please sign in again."
    return "The username or password is too long."


def _in_words(seconds: int) -> str:
    if seconds >= 120:
        return f"{math.ceil(seconds / 60)} minutes"
    return "1 second" if seconds == 1 else f"{seconds} seconds"


@blueprint.route("/logout", methods=["POST"])
def logout():
    try:
        validate_csrf(flask.request.form.get("csrf_token"))
    except ValidationError:
        flask.abort(400)
    sign_out(app_engine())
    return flask.redirect(flask.url_for("auth.login"))


@blueprint.route("/healthz")
def healthz():
    return {"status": "ok"}
