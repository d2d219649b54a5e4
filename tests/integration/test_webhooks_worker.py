"""Webhooks through a real Celery worker (PostgreSQL, Redis): a failed run's ``run.failed``
message reaches a receiver that is down (503) for its first three attempts, later, once per
webhook-id, every attempt logged. The backoff is tiny here (INSIDERS_WEBHOOK_BACKOFF_SECONDS)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from store import webhooks
from store.db import session_scope
from store.queue import request_run
from tests.integration.conftest import wait_for_status
from tests.webhook_receiver import start_receiver, stop_receiver

pytestmark = pytest.mark.integration

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture(scope="session")
def service_env(service_env):
    return {**service_env, "INSIDERS_WEBHOOK_BACKOFF_SECONDS": "0.3"}


@pytest.fixture
def webhook_db(clean_db):
    def empty() -> None:
        with clean_db.begin() as connection:
            connection.execute(text("TRUNCATE webhook_attempts, webhook_deliveries, "
                                    "webhook_subscriptions, customer_contacts RESTART IDENTITY"))
    empty()
    yield clean_db
    empty()


def test_run_failed_reaches_a_receiver_that_was_down(webhook_db, service_settings, enqueue,
                                                    start_worker):
    receiver = start_receiver(SECRET, fail_first=3)
    try:
        with session_scope(webhook_db) as session:
            webhooks.add_subscription(session, receiver.url, ["run.failed"], secret=SECRET)
        start_worker()
        # no transactions stored: the run fails with that reason
        run, _created = request_run(webhook_db, trigger="cli", enqueue=enqueue)
        failed = wait_for_status(webhook_db, run.id, ("failed",), timeout=60)
        [(message_id, payload)] = receiver.wait_for(1, timeout=60)
        time.sleep(1.0)  # anything sent twice would have arrived by now
        assert receiver.ids() == [message_id]
        assert receiver.requests == 4
        assert payload["type"] == "run.failed"
        assert payload["data"]["run_id"] == run.id
        assert payload["data"]["reason"] == failed["error"]
        assert "no transactions" in payload["data"]["reason"]
        with session_scope(webhook_db) as session:
            [delivery_id] = [d["id"] for d in webhooks.recent_deliveries(session)]
            attempts = webhooks.attempts_of(session, delivery_id)
            assert [a.status_code for a in attempts] == [503, 503, 503, 200]
            assert webhooks.get_delivery(session, delivery_id).message_id == message_id
    finally:
        stop_receiver(receiver)
