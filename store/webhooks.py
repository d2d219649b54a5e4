"""Webhooks: subscriptions, the outbox of deliveries and the log of every attempt.

A delivery is written in the transaction of the event it tells about (the run's
publication, its failure), so it exists exactly when the event does; a worker task sends it
after the commit. Its ``message_id`` (the ``webhook-id`` header) never changes, through
retries and replays, so a receiver can drop duplicates.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.runs import utcnow
from store.schema import Base

EVENT_TYPES = ("run.succeeded", "run.failed", "membership.changed")
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
EXCERPT_CHARS = 500


class WebhookSubscription(Base):
    """A receiver: where to send which events, and the secret their signatures use."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class WebhookDelivery(Base):
    """One message for one subscription; pending until delivered or given up."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), index=True
    )
    event_type: Mapped[str] = mapped_column(String(50))
    run_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)


class WebhookAttempt(Base):
    """One try at sending a delivery: when, what came back, how long it took."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    delivery_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    return "msg_" + uuid.uuid4().hex


# ---------------------------------------------------------------- subscriptions


def add_subscription(
    session: Session, url: str, event_types: list[str], *, secret: str | None = None,
    description: str = "", created_by: str = "",
) -> WebhookSubscription:
    """A new subscription; ValueError naming a wrong URL or event type."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"the URL must start with http:// or https://, got {url!r}")
    unknown = [name for name in event_types if name not in EVENT_TYPES]
    if unknown or not event_types:
        raise ValueError(f"event types must be among {', '.join(EVENT_TYPES)}; got "
                         f"{', '.join(unknown) or 'none'}")
    subscription = WebhookSubscription(
        url=url, event_types=list(dict.fromkeys(event_types)), secret=secret or new_secret(),
        description=description[:200], created_by=created_by[:100], created_at=utcnow(),
        active=True,
    )
    session.add(subscription)
    session.flush()
    return subscription


def list_subscriptions(session: Session) -> list[WebhookSubscription]:
    return list(session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)))


def get_subscription(session: Session, subscription_id: int) -> WebhookSubscription | None:
    return session.get(WebhookSubscription, int(subscription_id))


def remove_subscription(session: Session, subscription_id: int) -> bool:
    """Delete a subscription and its deliveries; False when there is none with this id."""
    subscription = session.get(WebhookSubscription, int(subscription_id))
    if subscription is None:
        return False
    session.delete(subscription)
    return True


def subscriptions_for(connection: Connection, event_type: str) -> list[int]:
    """Ids of active subscriptions that asked for ``event_type``."""
    rows = connection.execute(
        select(WebhookSubscription.id, WebhookSubscription.event_types)
        .where(WebhookSubscription.active.is_(True))
        .order_by(WebhookSubscription.id)
    ).all()
    return [row.id for row in rows if event_type in (row.event_types or [])]


# ---------------------------------------------------------------- deliveries


def record_deliveries(
    connection: Connection, subscription_ids: list[int], event_type: str,
    payloads: list[dict], *, run_id: int | None,
) -> int:
    """Put one delivery per (subscription, payload) in the outbox; returns how many."""
    now = utcnow()
    rows = [
        {
            "message_id": new_message_id(),
            "subscription_id": subscription_id,
            "event_type": event_type,
            "run_id": run_id,
            "payload": {"type": event_type, "timestamp": now.isoformat(), "data": data},
            "status": PENDING,
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
        }
        for subscription_id in subscription_ids
        for data in payloads
    ]
    if rows:
        connection.execute(insert(WebhookDelivery.__table__), rows)
    return len(rows)


def pending_delivery_ids(
    session: Session, *, run_id: int | None = None, due_before: datetime | None = None,
    limit: int | None = None,
) -> list[int]:
    """Pending deliveries of a run, or all those due before a time (the sweep)."""
    query = select(WebhookDelivery.id).where(WebhookDelivery.status == PENDING)
    if run_id is not None:
        query = query.where(WebhookDelivery.run_id == int(run_id))
    if due_before is not None:
        query = query.where(WebhookDelivery.next_attempt_at <= due_before)
    return list(session.scalars(query.order_by(WebhookDelivery.id).limit(limit)))


def get_delivery(session: Session, delivery_id: int) -> WebhookDelivery | None:
    return session.get(WebhookDelivery, int(delivery_id))


def recent_deliveries(session: Session, limit: int = 50) -> list[dict]:
    """The newest deliveries with their subscription's URL and their last attempt's answer
    (``last_status_code``, ``last_error``, ``last_attempted_at``, ``last_excerpt``: None before
    the first attempt), in one query, for the Admin page."""
    newest = (select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
              .subquery())
    tried = WebhookAttempt.__table__.alias("tried")
    last_attempt = (select(func.max(tried.c.id)).where(tried.c.delivery_id == newest.c.id)
                    .correlate(newest).scalar_subquery())
    rows = session.execute(
        select(newest.c.id, newest.c.message_id, newest.c.event_type, newest.c.run_id,
               newest.c.status, newest.c.attempts, newest.c.created_at, newest.c.delivered_at,
               WebhookSubscription.url,
               WebhookAttempt.status_code.label("last_status_code"),
               WebhookAttempt.error.label("last_error"),
               WebhookAttempt.attempted_at.label("last_attempted_at"),
               WebhookAttempt.response_excerpt.label("last_excerpt"))
        .join(WebhookSubscription, WebhookSubscription.id == newest.c.subscription_id)
        .outerjoin(WebhookAttempt, WebhookAttempt.id == last_attempt)
        .order_by(newest.c.id.desc())
    ).mappings().all()
    return [dict(row) for row in rows]


def attempts_of(session: Session, delivery_id: int) -> list[WebhookAttempt]:
    return list(session.scalars(
        select(WebhookAttempt).where(WebhookAttempt.delivery_id == int(delivery_id))
        .order_by(WebhookAttempt.id)
    ))


def record_attempt(
    session: Session, delivery: WebhookDelivery, *, status_code: int | None,
    duration_ms: int, response_excerpt: str | None, error: str | None,
    retry_after: timedelta | None, now: datetime | None = None,
) -> None:
    """Log an attempt; a 2xx delivers, otherwise retry after ``retry_after`` (None: give up)."""
    now = now or utcnow()
    session.add(WebhookAttempt(
        delivery_id=delivery.id, attempted_at=now, status_code=status_code,
        duration_ms=int(duration_ms),
        response_excerpt=(response_excerpt or "")[:EXCERPT_CHARS] or None,
        error=(error or "")[:EXCERPT_CHARS] or None,
    ))
    delivery.attempts += 1
    if status_code is not None and 200 <= status_code < 300:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DELIVERED, now, None
    elif retry_after is None:
        delivery.status, delivery.next_attempt_at = FAILED, None
    else:
        delivery.next_attempt_at = now + retry_after


def replay_delivery(session: Session, delivery_id: int) -> bool:
    """Send a delivery again, with the same ``webhook-id``; False when there is none."""
    result = session.execute(
        update(WebhookDelivery).where(WebhookDelivery.id == int(delivery_id))
        .values(status=PENDING, next_attempt_at=utcnow(), created_at=utcnow())
    )
    return result.rowcount == 1
