"""Webhook figure: a ``run.succeeded`` with 10,000 changed customers, from the run's
publication (commit) to its arrival at a receiver, through a real Celery worker.

    python benchmarks/webhooks.py [--database-url URL] [--broker-url URL] [--repeat 3]

Uses a PostgreSQL database (default ``insiders_bench_webhooks``, created and emptied) and a
Redis database (default db 12, emptied). The receiver is an HTTP server in this process that
verifies every signature. Prints figures; writes nothing else.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import migrations  # noqa: E402
from store import results, runs, webhooks  # noqa: E402
from store.contacts import upsert_contacts  # noqa: E402
from store.db import session_scope  # noqa: E402
from tests.webhook_receiver import fake_result, start_receiver, stop_receiver  # noqa: E402

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
CHANGED = 10_000
TABLES = ("webhook_attempts, webhook_deliveries, webhook_subscriptions, customer_contacts, "
          "membership_events, label_spans, label_stage, clusters, runs")


def _prepare(url: str) -> None:
    admin = create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    name = url.rsplit("/", 1)[1]
    with admin.connect() as connection:
        if not connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                  {"n": name}).scalar():
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    migrations.upgrade(url)


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
               "--pool=prefork", "--concurrency=1", "--loglevel=INFO", "--without-mingle",
               "--without-gossip"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("w"),
                               stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while " ready." not in log.read_text(errors="replace"):
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"worker did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)
    return process


def _publish(engine, entered: list[int], exited: list[int]) -> tuple[int, float]:
    with session_scope(engine) as session:
        run = runs.create_run(session, trigger="cli")
        runs.claim_run(session, run.id, task_id="bench")
    started = time.monotonic()
    with session_scope(engine) as session:
        results.write_results(session, run.id, fake_result(entered, exited),
                              previous_run_id=None, code_version="bench",
                              artifact_key=b"k" * 32)
    return run.id, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/"
                                "insiders_bench_webhooks")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSIDERS_")}
    env.update(INSIDERS_ENV="test", INSIDERS_DATABASE_URL=args.database_url,
               INSIDERS_BROKER_URL=args.broker_url, PYTHONPATH=str(ROOT))
    os.environ.update({k: v for k, v in env.items() if k.startswith("INSIDERS_")})
    # the runner's send after the commit, as the worker does it
    from worker.webhook_delivery import send_pending  # noqa: I001 (reads the settings above)
    import redis

    _prepare(args.database_url)
    redis.Redis.from_url(args.broker_url).flushdb()
    engine = create_engine(args.database_url)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
        ids = list(range(100_000, 100_000 + CHANGED))
        upsert_contacts(connection, pd.DataFrame({
            "customer_id": ids, "email": [f"c{i}@example.com" for i in ids],
            "name": [f"Customer {i}" for i in ids], "country": "France",
            "marketing_consent": [i % 5 != 0 for i in ids]}))
    receiver = start_receiver(SECRET)
    with session_scope(engine) as session:
        webhooks.add_subscription(session, receiver.url, ["run.succeeded"], secret=SECRET)
    worker = _start_worker(env, Path("/tmp") / "insiders-bench-webhooks-worker.log")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}")
    try:
        # warm-up: the worker's first task imports and connects
        _publish(engine, [1], [])
        send_pending(engine)
        receiver.wait_for(1, timeout=60)
        for attempt in range(args.repeat):
            half = CHANGED // 2
            run_id, publish_s = _publish(engine, ids[:half], ids[half:])
            published = time.monotonic()
            send_pending(engine, run_id=run_id)
            received = receiver.wait_for(attempt + 2, timeout=60)
            arrived = time.monotonic() - published
            data = received[-1][1]["data"]
            print(f"run {run_id}: {data['changes']['entered']} entered + "
                  f"{data['changes']['exited']} exited; publication (results + outbox) "
                  f"{publish_s * 1000:.0f} ms; sent and verified {arrived * 1000:.0f} ms after "
                  f"the commit; {len(data['entered']) + len(data['exited'])} inline "
                  f"(consenting, limit), inline_complete={data['inline_complete']}")
    finally:
        stop_receiver(receiver)
        os.killpg(worker.pid, 15)
        worker.wait(timeout=30)
        engine.dispose()


if __name__ == "__main__":
    main()
