"""Webhook tasks: deliver one message (rescheduling itself with backoff) and the beat's sweep."""

from __future__ import annotations

from datetime import timedelta

from settings import load_settings
from store.db import get_engine
from store.queue import WEBHOOK_SWEEP_TASK, WEBHOOK_TASK
from store.runs import utcnow
from worker.celery_app import app
from worker.webhook_delivery import deliver, send_pending

# a delivery this late was lost (a worker died holding it, the broker was down): send it again
SWEEP_GRACE_SECONDS = 120


@app.task(name=WEBHOOK_TASK)
def deliver_webhook(delivery_id: int) -> float | None:
    """One attempt at ``delivery_id``; a failure queues the next one after the backoff."""
    retry_in = deliver(int(delivery_id), engine=get_engine(), settings=load_settings())
    if retry_in is not None:
        deliver_webhook.apply_async(args=[int(delivery_id)], countdown=retry_in)
    return retry_in


@app.task(name=WEBHOOK_SWEEP_TASK)
def sweep_webhooks() -> int:
    """Queue pending deliveries whose attempt is overdue; returns how many."""
    due = utcnow() - timedelta(seconds=SWEEP_GRACE_SECONDS)
    return send_pending(get_engine(), due_before=due)
