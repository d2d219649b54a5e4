"""Webhooks on the embedded store (SQLite), sent in-process to a real HTTP receiver.

The delivery function the Celery task calls (``worker.webhook_delivery.deliver``) runs eagerly
here, and its reschedule (the task's ``countdown``) is a sleep of the returned delay: what
these tests check is the outbox, the signature, the backoff and the attempt log. The same
path through a real Celery worker is in tests/integration/test_webhooks_worker.py.
"""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta

import pandas as pd
import pytest

import migrations
from settings import load_settings
from store import results, runs, webhooks
from store.contacts import upsert_contacts
from store.db import make_engine, session_scope
from store.webhook_events import reap_and_record, record_run_failed
from tests.webhook_receiver import fake_result, start_receiver, stop_receiver
from worker import runner, webhook_delivery

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def engine(tmp_path):
    url = f"sqlite:///{tmp_path / 'insiders.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(tmp_path, monkeypatch):
    """Tiny backoff; the environment too, since the publication reads its own settings."""
    for name, value in {"INSIDERS_DATA_DIR": str(tmp_path),
                        "INSIDERS_PUBLIC_URL": "https://insiders.example",
                        "INSIDERS_WEBHOOK_BACKOFF_SECONDS": "0.05",
                        "INSIDERS_WEBHOOK_INLINE_LIMIT": "3",
                        "INSIDERS_WEBHOOK_TIMEOUT_SECONDS": "5"}.items():
        monkeypatch.setenv(name, value)
    return load_settings()


@pytest.fixture
def receiver():
    receiver = start_receiver(SECRET)
    yield receiver
    stop_receiver(receiver)


def subscribe(engine, url, events=("run.succeeded", "run.failed"), secret=SECRET) -> int:
    with session_scope(engine) as session:
        return webhooks.add_subscription(session, url, list(events), secret=secret).id


def publish(engine, settings, entered, exited) -> int:
    """A run published the way the worker does it: results and outbox in one transaction."""
    with session_scope(engine) as session:
        run = runs.create_run(session, trigger="cli")
        runs.claim_run(session, run.id, task_id="t")
        run.as_of = date(2011, 12, 9)  # a worker sets it before the results are written
    with session_scope(engine) as session:
        results.write_results(session, run.id, fake_result(entered, exited), previous_run_id=None,
                              code_version="test", artifact_key=b"k" * 32)
    return run.id


def deliver_until_done(engine, settings, delivery_id: int) -> None:
    """What the task does across its reschedules, eagerly."""
    while (delay := webhook_delivery.deliver(delivery_id, engine=engine,
                                             settings=settings)) is not None:
        time.sleep(delay)


def deliver_all(engine, settings) -> list[int]:
    with session_scope(engine) as session:
        ids = webhooks.pending_delivery_ids(session)
    for delivery_id in ids:
        deliver_until_done(engine, settings, delivery_id)
    return ids


def consent(engine, consenting, refusing) -> None:
    frame = pd.DataFrame(
        [{"customer_id": c, "email": f"c{c}@example.com", "name": f"Customer {c}",
          "country": "France", "marketing_consent": True} for c in consenting]
        + [{"customer_id": c, "email": f"c{c}@example.com", "name": f"Customer {c}",
            "country": "France", "marketing_consent": False} for c in refusing])
    with engine.begin() as connection:
        upsert_contacts(connection, frame)


def test_run_succeeded_is_signed_and_names_only_consenting_customers(engine, settings, receiver):
    subscribe(engine, receiver.url)
    consent(engine, consenting=[1, 2, 5], refusing=[3, 4])
    run_id = publish(engine, settings, entered=[1, 2, 3], exited=[4, 5])
    assert len(deliver_all(engine, settings)) == 1
    [(message_id, payload)] = receiver.wait_for(1)
    assert message_id.startswith("msg_") and payload["type"] == "run.succeeded"
    data = payload["data"]
    assert data["run_id"] == run_id
    assert data["changes"] == {"entered": 3, "exited": 2}  # counts stay whole
    assert [c["customer_id"] for c in data["entered"]] == [1, 2]
    assert [c["customer_id"] for c in data["exited"]] == [5]
    assert data["entered"][0]["email"] == "c1@example.com"
    assert data["inline_complete"] is True
    assert data["changes_url"] == f"https://insiders.example/changes?run={run_id}"


def test_inline_lists_stop_at_the_limit_and_point_to_the_link(engine, settings, receiver):
    subscribe(engine, receiver.url)
    consent(engine, consenting=list(range(1, 11)), refusing=[])
    publish(engine, settings, entered=list(range(1, 8)), exited=[8, 9, 10])
    deliver_all(engine, settings)
    data = receiver.wait_for(1)[0][1]["data"]
    assert len(data["entered"]) + len(data["exited"]) == 3
    assert data["inline_complete"] is False and data["changes"]["entered"] == 7


def test_membership_changed_one_message_per_consenting_customer(engine, settings, receiver):
    subscribe(engine, receiver.url, events=["membership.changed"])
    consent(engine, consenting=[1, 4], refusing=[2])
    publish(engine, settings, entered=[1, 2, 3], exited=[4])
    deliver_all(engine, settings)
    received = receiver.wait_for(2)
    assert sorted(p["data"]["customer_id"] for _, p in received) == [1, 4]
    assert len({message_id for message_id, _ in received}) == 2


def test_down_receiver_gets_the_message_later_once_per_webhook_id(engine, settings, receiver):
    receiver.fail_first = 3
    subscribe(engine, receiver.url)
    publish(engine, settings, entered=[1], exited=[])
    [delivery_id] = deliver_all(engine, settings)
    assert len(receiver.wait_for(1)) == 1 and receiver.requests == 4
    with session_scope(engine) as session:
        attempts = webhooks.attempts_of(session, delivery_id)
        assert [a.status_code for a in attempts] == [503, 503, 503, 200]
        assert attempts[0].response_excerpt == "down for maintenance"
        assert webhooks.get_delivery(session, delivery_id).status == webhooks.DELIVERED
    # a re-delivered task message finds the delivery done and sends nothing
    assert webhook_delivery.deliver(delivery_id, engine=engine, settings=settings) is None
    assert receiver.requests == 4


def test_replay_sends_the_same_webhook_id_again(engine, settings, receiver):
    subscribe(engine, receiver.url)
    publish(engine, settings, entered=[1], exited=[])
    [delivery_id] = deliver_all(engine, settings)
    with session_scope(engine) as session:
        assert webhooks.replay_delivery(session, delivery_id)
    deliver_until_done(engine, settings, delivery_id)
    first, second = receiver.wait_for(2)
    assert first[0] == second[0]


def test_a_wrong_secret_is_rejected_by_the_receiver(engine, settings, receiver):
    other = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
    subscribe(engine, receiver.url, secret=other)
    publish(engine, settings, entered=[1], exited=[])
    settings = load_settings({"INSIDERS_DATA_DIR": str(settings.data_dir),
                              "INSIDERS_WEBHOOK_BACKOFF_SECONDS": "3600",
                              "INSIDERS_WEBHOOK_MAX_AGE_HOURS": "0"})
    [delivery_id] = deliver_all(engine, settings)
    assert receiver.accepted == [] and receiver.rejected == ["No matching signature found"]
    with session_scope(engine) as session:
        [attempt] = webhooks.attempts_of(session, delivery_id)
        assert attempt.status_code == 400
        assert webhooks.get_delivery(session, delivery_id).status == webhooks.FAILED


def test_retries_stop_after_the_maximum_age(engine, settings):
    settings = load_settings({"INSIDERS_DATA_DIR": str(settings.data_dir),
                              "INSIDERS_WEBHOOK_MAX_AGE_HOURS": "24"})
    assert webhook_delivery.backoff(settings, 1).total_seconds() == 30
    assert webhook_delivery.backoff(settings, 4).total_seconds() == 240
    assert webhook_delivery.backoff(settings, 30).total_seconds() == 6 * 3600
    elapsed, attempts = timedelta(0), 1
    while not webhook_delivery.gives_up(settings, elapsed + webhook_delivery.backoff(
            settings, attempts)):
        elapsed += webhook_delivery.backoff(settings, attempts)
        attempts += 1
    # 30 s, 1 min, ... 4.3 h, then every 6 h: the last attempt comes 20.5 h after the event
    assert attempts == 13 and timedelta(hours=20) < elapsed < timedelta(hours=24)


def test_run_failed_is_delivered_with_the_reason(engine, settings, receiver):
    subscribe(engine, receiver.url)
    with session_scope(engine) as session:
        run = runs.create_run(session, trigger="cli")
        runs.fail_run(session, run.id, "no transactions stored yet")
        record_run_failed(session.connection(), run.id, "no transactions stored yet", settings)
    deliver_all(engine, settings)
    [(_, payload)] = receiver.wait_for(1)
    assert payload["type"] == "run.failed"
    assert payload["data"] == {"run_id": run.id, "reason": "no transactions stored yet",
                               "run_url": "https://insiders.example/admin"}


def test_a_reaped_run_tells_run_failed_subscribers_why(engine, settings, receiver):
    subscribe(engine, receiver.url)
    impatient = settings.__class__(**{**vars(settings), "stale_after_seconds": 1})
    with session_scope(engine) as session:
        run = runs.create_run(session, trigger="schedule")
        runs.claim_run(session, run.id, task_id="t")
    with session_scope(engine) as session:
        assert reap_and_record(session, impatient) == []  # claimed just now: not stale
    time.sleep(1.5)
    with session_scope(engine) as session:
        assert reap_and_record(session, impatient) == [run.id]
    deliver_all(engine, settings)
    [(_, payload)] = receiver.wait_for(1)
    assert payload["type"] == "run.failed"
    assert payload["data"]["run_id"] == run.id
    assert "heartbeat" in payload["data"]["reason"]


def test_a_slow_receiver_does_not_delay_the_publication(engine, settings, receiver, monkeypatch,
                                                        synthetic_transactions):
    """The runner publishes and returns while the receiver is still sleeping; the message,
    sent by a separate (here: threaded, in-process) task, arrives afterwards."""
    receiver.delay = 3.0
    subscribe(engine, receiver.url)
    sent: list[threading.Thread] = []

    def send_in_background(delivery_id):
        thread = threading.Thread(target=deliver_until_done, args=(engine, settings, delivery_id))
        thread.start()
        sent.append(thread)

    monkeypatch.setattr(webhook_delivery, "send_webhook_task", send_in_background)
    with session_scope(engine) as session:
        run = runs.create_run(session, trigger="cli")
    started = time.monotonic()
    outcome = runner.execute_run(run.id, engine=engine, settings=settings,
                                 segment=lambda *_a, **_k: fake_result([1], [2]))
    took = time.monotonic() - started
    assert outcome == "succeeded" and took < 2.0, took
    with session_scope(engine) as session:
        assert runs.get_run(session, run.id).status == "succeeded"
    assert receiver.accepted == []
    assert receiver.wait_for(1, timeout=10)[0][1]["data"]["run_id"] == run.id
    for thread in sent:
        thread.join()


@pytest.fixture
def synthetic_transactions(engine, tmp_path):
    from pipeline.synthetic import generate_transactions
    from store.transactions import ingest_file

    path = tmp_path / "transactions.csv"
    generate_transactions(30, seed=1).to_csv(path, index=False)
    ingest_file(engine, path, profile="default")
