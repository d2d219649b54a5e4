"""API tokens: created once and shown once, stored as a sha256, scoped, revocable.

A token is ``ins_`` followed by 32 random bytes (URL-safe base64); its sha256 is all the
database keeps, so a leaked database does not leak a usable token. A token's scope is ``read``
(every GET) or ``run`` (also starts runs).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session

from store.db import session_scope
from store.schema import TOKEN_SCOPES, ApiToken
from store.users import count_actions, record

PREFIX = "ins_"
# last_used_at is written at most this often per token, not on every request
TOUCH_EVERY = timedelta(minutes=1)


class TokenError(ValueError):
    """A token cannot be created or revoked as asked (bad scope, name taken, unknown name)."""


@dataclass(frozen=True)
class TokenInfo:
    """A token as it can be shown: never its secret or its hash."""

    id: int
    name: str
    scope: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(id=row.id, name=row.name, scope=row.scope, created_at=_utc(row.created_at),
                     last_used_at=_utc(row.last_used_at), revoked_at=_utc(row.revoked_at))


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)  # SQLite gives back naive datetimes


def create_token(session: Session, name: str, scope: str) -> tuple[TokenInfo, str]:
    """Store a new token named ``name``; returns its info and the token (shown once)."""
    name = name.strip()
    if not name:
        raise TokenError("a token needs a name")
    if scope not in TOKEN_SCOPES:
        raise TokenError(f"scope must be one of {', '.join(TOKEN_SCOPES)}, got {scope!r}")
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise TokenError(f"a token named {name!r} exists already (revoked tokens keep their name)")
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, scope=scope, token_sha256=digest(token),
                   created_at=datetime.now(UTC))
    session.add(row)
    session.flush()
    return _info(row), token


def list_tokens(session: Session) -> list[TokenInfo]:
    """Every token, active or revoked, oldest first."""
    return [_info(row) for row in session.scalars(select(ApiToken).order_by(ApiToken.id))]


def revoke_token(session: Session, name: str) -> TokenInfo:
    """Revoke the token named ``name`` (revoking twice keeps the first time)."""
    row = session.scalar(select(ApiToken).where(ApiToken.name == name.strip()))
    if row is None:
        raise TokenError(f"no token named {name!r}")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        session.flush()
    return _info(row)


def find_token(session: Session, token: str) -> TokenInfo | None:
    """The token's info if ``token`` is one (revoked or not), else None; notes its use."""
    if not token.startswith(PREFIX):
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == digest(token)))
    if row is None:
        return None
    now = datetime.now(UTC)
    last = _utc(row.last_used_at)
    if row.revoked_at is None and (last is None or now - last > TOUCH_EVERY):
        session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
        return TokenInfo(**{**_info(row).__dict__, "last_used_at": now})
    return _info(row)


def claim_token_action(engine: Engine, token_id: int, who: str, action: str, *, amount: int,
                       within: timedelta, details: dict) -> bool:
    """Record ``action`` by the token unless ``who`` (the token's audit name) already did it
    ``amount`` times in the last ``within``; True if recorded.

    Counted from the audit log while the token's row is locked (SELECT ... FOR UPDATE; SQLite
    writes one transaction at a time), so concurrent requests with one token are counted one
    after the other and never all see room.
    """
    with session_scope(engine) as session:
        if session.bind.dialect.name == "sqlite":
            session.execute(text("BEGIN IMMEDIATE"))  # take the write lock before counting
        session.execute(select(ApiToken.id).where(ApiToken.id == token_id).with_for_update())
        if count_actions(session, action, within, who) >= amount:
            return False
        record(session, who, action, details)
    return True
