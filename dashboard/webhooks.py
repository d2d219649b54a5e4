"""What the Admin page reads and writes about webhooks, and what the customer page reads about
contact details: the store's queries on the app's engine, so no callback holds SQL."""

from __future__ import annotations

from sqlalchemy import Engine

from dashboard.config import app_engine
from store import contacts, webhooks
from store.db import session_scope
from store.queue import send_webhook_task


def subscriptions(engine: Engine | None = None) -> list[dict]:
    """Subscriptions without their secrets (a secret is shown once, when created)."""
    with session_scope(app_engine(engine)) as session:
        return [{"id": s.id, "url": s.url, "events": ", ".join(s.event_types),
                 "description": s.description, "created_by": s.created_by,
                 "created_at": s.created_at} for s in webhooks.list_subscriptions(session)]


def add_subscription(url: str, events: list[str], description: str, user: str,
                     engine: Engine | None = None) -> tuple[int, str]:
    """(id, secret) of a new subscription; ValueError naming a wrong URL or event."""
    with session_scope(app_engine(engine)) as session:
        subscription = webhooks.add_subscription(session, url, events, description=description,
                                                 created_by=user)
        return subscription.id, subscription.secret


def remove_subscription(subscription_id: int, engine: Engine | None = None) -> bool:
    with session_scope(app_engine(engine)) as session:
        return webhooks.remove_subscription(session, subscription_id)


def deliveries(limit: int = 50, engine: Engine | None = None) -> list[dict]:
    """The newest deliveries with their last attempt's answer."""
    with session_scope(app_engine(engine)) as session:
        rows = webhooks.recent_deliveries(session, limit)
    for row in rows:
        row["last_answer"] = _answer(row)
    return rows


def _answer(row: dict) -> str:
    if row["last_attempted_at"] is None:
        return ""
    code = row["last_status_code"] or row["last_error"]
    excerpt = row["last_excerpt"]
    return (f"{code} at {row['last_attempted_at']:%Y-%m-%d %H:%M:%S}"
            + (f": {excerpt[:80]}" if excerpt else ""))


def replay(delivery_id: int, engine: Engine | None = None) -> bool:
    """Mark a delivery pending again (same webhook-id) and queue it; False when unknown."""
    with session_scope(app_engine(engine)) as session:
        if not webhooks.replay_delivery(session, delivery_id):
            return False
    send_webhook_task(delivery_id)
    return True


def contact(customer_id: int, engine: Engine | None = None) -> dict | None:
    with app_engine(engine).connect() as connection:
        return contacts.get_contact(connection, customer_id)


def search_contacts(text: str, engine: Engine | None = None) -> list[dict]:
    with app_engine(engine).connect() as connection:
        return contacts.search_contacts(connection, text)
