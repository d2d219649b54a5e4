"""Who may see the dashboard and who may act: sessions, roles and cross-site protection.

Every request needs a logged-in session except the login form and the static assets it uses.
Dash's own endpoints (``/_dash-update-component``, ``/_dash-layout``, ...) answer 401 without
one, and a POST from another origin is refused before any callback runs.
"""

from __future__ import annotations

import math
import time
from datetime import timedelta
from urllib.parse import urlsplit

import flask
import limits
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import Engine, select, text
from werkzeug.middleware.proxy_fix import ProxyFix

from settings import Settings
from store.db import session_scope
from store.schema import User
from store.users import (
    Account,
    account_by_id,
    count_actions,
    end_sessions,
    record,
    save_user,
)

PUBLIC_PATHS = ("/login", "/healthz")
PUBLIC_PREFIXES = ("/assets/",)
RUN_ACTION = "run_requested"
# the session carries the user's session version from login; a logout, or a new password or
# role, bumps the stored one, and every older session stops loading
SESSION_VERSION_KEY = "session_version"
LOGIN_RATE = "10 per minute"
THROTTLE_KEY = "insiders_login_throttle"
# Dash renders with an inline bootstrap script and Plotly compiles functions at run time
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class SchemeSession(SecureCookieSessionInterface):
    """The session cookie is Secure when the request came over https, so that signing in
    over plain http (a laptop, a test) still works and https never sends it in clear."""

    def get_cookie_secure(self, app: flask.Flask) -> bool:
        return flask.request.is_secure


class SessionUser(UserMixin):
    """The logged-in account, as Flask-Login keeps it for a request."""

    def __init__(self, account: Account) -> None:
        self.id = str(account.id)
        self.username = account.username
        self.role = account.role
        self.session_version = account.session_version

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def init_auth(server: flask.Flask, engine: Engine, settings: Settings) -> None:
    """Configure cookies, Flask-Login and the request guard on ``server``.

    Forms carry a CSRF token (Flask-WTF); Dash posts JSON without one, so every POST must
    also come from this site's own origin (and the cookie is SameSite=Lax).
    """
    server.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
    )
    manager = LoginManager()
    manager.login_view = "auth.login"
    manager.session_protection = "strong"
    manager.init_app(server)

    @manager.user_loader
    def _load(user_id: str) -> SessionUser | None:
        with engine.connect() as connection:
            account = account_by_id(connection, int(user_id))
        if account is None or flask.session.get(SESSION_VERSION_KEY) != account.session_version:
            return None
        return SessionUser(account)

    server.session_interface = SchemeSession()
    server.before_request(_guard)
    server.after_request(_secure_headers)


def sign_in(account: Account) -> None:
    """A fresh session for ``account``, remembering its session version."""
    flask.session.clear()
    login_user(SessionUser(account))
    flask.session[SESSION_VERSION_KEY] = account.session_version


def sign_out(engine: Engine) -> None:
    """End this session and every other session of the same user."""
    if current_user.is_authenticated:
        with session_scope(engine) as session:
            end_sessions(session, int(current_user.id))
            record(session, current_user.username, "logout")
    logout_user()
    flask.session.clear()


def trust_proxies(server: flask.Flask, hops: int) -> None:
    """Behind ``hops`` proxies (INSIDERS_TRUSTED_PROXIES) believe their X-Forwarded-For,
    -Proto and -Host: the client address the login limit counts, and the scheme the browser
    used, so that the cookie is Secure when a TLS proxy serves the site. Wrap the whole WSGI
    app (call it last) so that everything mounted on the server sees the same."""
    if hops > 0:
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def _secure_headers(response: flask.Response) -> flask.Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


class LoginThrottle:
    """At most LOGIN_RATE failed sign-ins per client address in a moving window (guessing
    gets slow); while the limit holds every attempt is refused, the right password too, and
    once the oldest failure leaves the window the next attempt is heard."""

    def __init__(self, rate: str) -> None:
        self.item = limits.parse(rate)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def wait_seconds(self, client: str) -> int:
        """Seconds ``client`` must wait before trying again; 0 when it may try now."""
        if self.limiter.test(self.item, client):
            return 0
        reset_at = self.limiter.get_window_stats(self.item, client).reset_time
        return max(1, math.ceil(reset_at - time.time()))

    def failed(self, client: str) -> None:
        self.limiter.hit(self.item, client)


def limit_logins(server: flask.Flask) -> None:
    server.extensions[THROTTLE_KEY] = LoginThrottle(LOGIN_RATE)


def login_throttle() -> LoginThrottle:
    return flask.current_app.extensions[THROTTLE_KEY]


def _same_origin() -> bool:
    """A state-changing request must come from a page of this very site."""
    source = flask.request.headers.get("Origin") or flask.request.headers.get("Referer")
    if not source or source == "null":
        return False
    return urlsplit(source).netloc == flask.request.host


def _guard():
    path = flask.request.path
    if flask.request.method == "POST" and not _same_origin():
        return flask.jsonify(error="cross-site request refused"), 403
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return None
    if current_user.is_authenticated:
        return None
    if path.startswith("/_") or flask.request.method != "GET":
        return flask.jsonify(error="login required"), 401
    return flask.redirect(flask.url_for("auth.login", next=flask.request.full_path.rstrip("?")))


def is_admin() -> bool:
    """Checked on the server inside the callback that acts, never trusted from the page."""
    return bool(current_user.is_authenticated and getattr(current_user, "is_admin", False))


def username() -> str:
    return getattr(current_user, "username", "anonymous")


def claim_run_request(engine: Engine, rate: str, user: str, details: dict) -> bool:
    """Record a run request by ``user`` unless it already made ``rate`` (e.g. '5 per minute')
    of them in the window; True if recorded.

    Counted from the audit log (so the limit holds across processes and restarts) while the
    user's row is locked (SELECT ... FOR UPDATE; SQLite writes one transaction at a time), so
    concurrent requests are counted one after the other and never all see room.
    """
    item = limits.parse(rate)
    with session_scope(engine) as session:
        if session.bind.dialect.name == "sqlite":
            session.execute(text("BEGIN IMMEDIATE"))  # take the write lock before counting
        session.execute(select(User.id).where(User.username == user).with_for_update())
        used = count_actions(session, RUN_ACTION, timedelta(seconds=item.get_expiry()), user)
        if used >= item.amount:
            return False
        record(session, user, RUN_ACTION, details)
    return True


def audit(engine: Engine, action: str, details: dict | None = None) -> None:
    with session_scope(engine) as session:
        record(session, username(), action, details)


def ensure_admin(engine: Engine, settings: Settings) -> str | None:
    """Create or update the admin named in INSIDERS_ADMIN_USER/PASSWORD; its name, if any."""
    if not settings.admin_user or not settings.admin_password:
        return None
    with session_scope(engine) as session:
        save_user(session, settings.admin_user, settings.admin_password, "admin")
    return settings.admin_user
