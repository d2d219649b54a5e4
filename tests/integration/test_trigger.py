"""At most one queued or running run, enforced by the database, under concurrent triggers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from store.db import session_scope
from store.queue import request_run
from store.runs import active_run, claim_run, fail_run, reap_stale_runs

from .conftest import count

pytestmark = pytest.mark.integration


def test_twenty_concurrent_triggers_give_one_run(
    clean_db, service_settings, enqueue, redis_client
):
    redis_client.delete("insiders")
    barrier = threading.Barrier(20)

    def trigger(i: int):
        barrier.wait()
        run, created = request_run(clean_db, trigger="manual", requested_by=f"user{i}",
                                   enqueue=enqueue)
        return run.id, created

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(trigger, range(20)))
    assert sum(created for _id, created in outcomes) == 1
    assert len({run_id for run_id, _created in outcomes}) == 1
    assert count(clean_db, "runs") == 1
    # the run row was committed before its one task message went to Redis
    assert redis_client.llen("insiders") == 1
    redis_client.delete("insiders")


def test_trigger_while_active_returns_the_active_run(clean_db, service_settings):
    sent: list[int] = []
    first, created = request_run(clean_db, trigger="cli", enqueue=sent.append)
    assert created and sent == [first.id]
    second, created = request_run(clean_db, trigger="manual", enqueue=sent.append)
    assert not created and second.id == first.id and sent == [first.id]
    with session_scope(clean_db) as session:
        fail_run(session, first.id, "test over")
    third, created = request_run(clean_db, trigger="manual", enqueue=sent.append)
    assert created and third.id != first.id


def test_failed_enqueue_fails_the_run_and_frees_the_slot(clean_db, service_settings):
    def broken(_run_id):
        raise ConnectionError("broker down")

    with pytest.raises(ConnectionError):
        request_run(clean_db, trigger="cli", enqueue=broken)
    with session_scope(clean_db) as session:
        assert active_run(session) is None
    assert count(clean_db, "runs", "status = 'failed' AND error LIKE '%broker down%'") == 1


def test_claim_only_once_and_reaper_fails_silent_runs(clean_db, service_settings):
    from datetime import timedelta

    from store.runs import utcnow

    run, _ = request_run(clean_db, trigger="cli", enqueue=lambda _id: None)
    with session_scope(clean_db) as session:
        assert claim_run(session, run.id, task_id="a")
    with session_scope(clean_db) as session:
        assert not claim_run(session, run.id, task_id="b")
    later = utcnow() + timedelta(seconds=service_settings.stale_after_seconds + 1)
    with session_scope(clean_db) as session:
        reaped = reap_stale_runs(session, stale_after_seconds=5, queued_timeout_seconds=60,
                                 now=later)
    assert reaped == [run.id]
    assert count(clean_db, "runs", "status = 'failed' AND error LIKE '%heartbeat%'") == 1
    with session_scope(clean_db) as session:
        assert active_run(session) is None


def test_reaper_names_the_time_limit_and_never_started_runs(clean_db):
    from datetime import timedelta

    from store.runs import utcnow

    run, _ = request_run(clean_db, trigger="cli", enqueue=lambda _id: None)
    with session_scope(clean_db) as session:
        assert claim_run(session, run.id)
    later = utcnow() + timedelta(seconds=400)
    with session_scope(clean_db) as session:
        reap_stale_runs(session, stale_after_seconds=5, queued_timeout_seconds=60,
                        hard_time_limit_seconds=360, now=later)
    assert count(clean_db, "runs", "error LIKE '%hard time limit%'") == 1

    queued, _ = request_run(clean_db, trigger="cli", enqueue=lambda _id: None)
    with session_scope(clean_db) as session:
        reaped = reap_stale_runs(session, stale_after_seconds=5, queued_timeout_seconds=60,
                                 now=utcnow() + timedelta(seconds=61))
    assert reaped == [queued.id]
    assert count(clean_db, "runs", "error LIKE '%no worker started%'") == 1
