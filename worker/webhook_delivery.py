"""One attempt at a webhook delivery, outside Celery: claim, sign, POST, log, schedule the next.

Signed the Standard Webhooks way (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``)
with the ``standardwebhooks`` package. A failed attempt is retried after the backoff setting,
then twice that, four times ..., until ``INSIDERS_WEBHOOK_MAX_AGE_HOURS`` after the event.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, update
from standardwebhooks.webhooks import Webhook

from settings import Settings
from store import webhooks
from store.db import session_scope
from store.queue import send_webhook_task
from store.runs import utcnow
from store.webhooks import PENDING, WebhookDelivery

log = logging.getLogger(__name__)

USER_AGENT = "Insiders-Webhooks/1"
# an attempt holds its delivery this long past the request's timeout: no second sender meanwhile
LEASE_MARGIN_SECONDS = 30
# doubling stops here, so a receiver that is back after a long outage hears within hours
MAX_WAIT = timedelta(hours=6)

Post = Callable[[str, bytes, dict[str, str], float], tuple[int | None, str | None, str | None]]


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were written in UTC
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def body_of(payload: dict) -> str:
    """The exact text that is signed and sent."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str)


def signed_headers(message_id: str, secret: str, body: str, now: datetime) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, body),
    }


def http_post(
    url: str, body: bytes, headers: dict[str, str], timeout: float
) -> tuple[int | None, str | None, str | None]:
    """(status code, response excerpt, error) of one POST; never raises for a bad receiver."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read(webhooks.EXCERPT_CHARS).decode(
                "utf-8", "replace"), None
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(webhooks.EXCERPT_CHARS).decode("utf-8", "replace"), None
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, None, f"{type(exc).__name__}: {reason}"


def backoff(settings: Settings, attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failure: base, 2 x base, 4 x base ... at most 6 hours."""
    seconds = settings.webhook_backoff_seconds * 2 ** min(40, max(0, attempts - 1))
    return min(MAX_WAIT, timedelta(seconds=seconds))


def gives_up(settings: Settings, next_attempt_after: timedelta) -> bool:
    """True when the next attempt would come later than the maximum age of a delivery."""
    return next_attempt_after > timedelta(hours=settings.webhook_max_age_hours)


def _claim(engine: Engine, delivery_id: int, settings: Settings, now: datetime) -> bool:
    lease = now + timedelta(seconds=settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS)
    with session_scope(engine) as session:
        claimed = session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == PENDING,
                   WebhookDelivery.next_attempt_at <= now)
            .values(next_attempt_at=lease)
        )
        return claimed.rowcount == 1


def deliver(
    delivery_id: int, *, engine: Engine, settings: Settings, post: Post = http_post,
) -> float | None:
    """Attempt ``delivery_id`` if it is pending and due; returns the seconds until its next
    attempt, or None when there is nothing more to do (delivered, given up, not due, gone)."""
    now = utcnow()
    if not _claim(engine, delivery_id, settings, now):
        return None
    with session_scope(engine) as session:
        delivery = webhooks.get_delivery(session, delivery_id)
        subscription = webhooks.get_subscription(session, delivery.subscription_id)
        message_id, url, secret = delivery.message_id, subscription.url, subscription.secret
        body, created_at = body_of(delivery.payload), _aware(delivery.created_at)
    # the POST happens outside any transaction: a slow receiver holds no database lock
    started = time.monotonic()
    status, excerpt, error = post(url, body.encode(), signed_headers(message_id, secret, body, now),
                                  float(settings.webhook_timeout_seconds))
    duration_ms = round((time.monotonic() - started) * 1000)
    with session_scope(engine) as session:
        delivery = webhooks.get_delivery(session, delivery_id)
        if delivery is None:
            return None
        retry = backoff(settings, delivery.attempts + 1)
        give_up = gives_up(settings, utcnow() + retry - created_at)
        webhooks.record_attempt(session, delivery, status_code=status, duration_ms=duration_ms,
                                response_excerpt=excerpt, error=error,
                                retry_after=None if give_up else retry)
        if delivery.status != PENDING:
            return None
    log.info("webhook %s to %s: %s; next attempt in %s", message_id, url, status or error, retry)
    return retry.total_seconds()


def send_pending(engine: Engine, *, run_id: int | None = None,
                 due_before: datetime | None = None) -> int:
    """Hand pending deliveries (of a run, or due before a time) to the broker; a broker
    that is down is logged, and the beat's sweep sends them later."""
    with session_scope(engine) as session:
        ids = webhooks.pending_delivery_ids(session, run_id=run_id, due_before=due_before)
    sent = 0
    for delivery_id in ids:
        try:
            send_webhook_task(delivery_id)
            sent += 1
        except Exception:  # the run is published whatever happens to its notifications
            log.warning("could not queue webhook delivery %s; the sweep will", delivery_id,
                        exc_info=True)
            break
    return sent
