"""Dashboard accounts and the audit log: who may look, who may act, and who did what."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, func, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from store.schema import ROLES, AuditEntry, User

MIN_PASSWORD_LENGTH = 8


class UserError(ValueError):
    """A user cannot be created as asked (bad role, short password)."""


@dataclass(frozen=True)
class Account:
    """A user as the dashboard needs it: never carries the password hash."""

    id: int
    username: str
    role: str
    session_version: int = 1

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _account(user: User) -> Account:
    return Account(id=user.id, username=user.username, role=user.role,
                   session_version=user.session_version)


def save_user(session: Session, username: str, password: str, role: str) -> Account:
    """Create ``username`` or update its password and role; the password is stored hashed.

    A new password or role ends every session the user had signed in before.
    """
    username = username.strip()
    if not username:
        raise UserError("a username is required")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    user = session.scalar(select(User).where(User.username == username))
    created = user is None
    if user is None:
        user = User(username=username, created_at=datetime.now(UTC), session_version=1)
        session.add(user)
    elif user.role != role or not check_password_hash(user.password_hash, password):
        user.session_version += 1
    user.password_hash = generate_password_hash(password)
    user.role = role
    session.flush()
    record(session, username, "user_created" if created else "user_updated", {"role": role})
    return _account(user)


def authenticate(session: Session, username: str, password: str) -> Account | None:
    """The account if the password matches, else None (same answer for unknown users)."""
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        # hash anyway so that timing does not tell which usernames exist
        check_password_hash(generate_password_hash("x"), password)
        return None
    return _account(user) if check_password_hash(user.password_hash, password) else None


def account_by_id(connection: Connection, user_id: int) -> Account | None:
    """The account of ``user_id`` in one light query (read on every request of a session)."""
    row = connection.execute(
        select(User.id, User.username, User.role, User.session_version)
        .where(User.id == int(user_id))
    ).first()
    return None if row is None else Account(id=row.id, username=row.username, role=row.role,
                                            session_version=row.session_version)


def end_sessions(session: Session, user_id: int) -> None:
    """Every session of ``user_id`` signed in so far stops loading (logout)."""
    session.execute(update(User).where(User.id == user_id)
                    .values(session_version=User.session_version + 1))


def record(session: Session, username: str, action: str, details: dict | None = None) -> None:
    """Append one audit entry (committed with the caller's session)."""
    session.add(
        AuditEntry(at=datetime.now(UTC), username=username, action=action, details=details or {})
    )


def count_actions(
    session: Session, action: str, within: timedelta, username: str | None = None
) -> int:
    """How many ``action`` entries were logged in the last ``within`` (by ``username``)."""
    since = datetime.now(UTC) - within
    query = select(func.count()).where(AuditEntry.action == action, AuditEntry.at >= since)
    if username is not None:
        query = query.where(AuditEntry.username == username)
    return int(session.scalar(query) or 0)
