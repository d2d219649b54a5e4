"""The daily flow with nobody at the keyboard: files dropped into the inbox are ingested by the
beat's scheduled run (a real Celery worker), before the run is queued; a bad file is moved aside
with its reason and the others are still ingested."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from pipeline.synthetic import generate_transactions
from store.queue import SCHEDULED_RUN_TASK
from worker.inbox import DONE, REJECTED

from .conftest import count, wait_for_status

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def inbox(service_env: dict[str, str]) -> Path:
    folder = Path(service_env["INSIDERS_INBOX_DIR"])
    for path in folder.rglob("*"):
        if path.is_file():
            path.unlink()
    return folder


def test_the_scheduled_run_ingests_the_inbox_first(
    clean_db: Engine, redis_client, inbox: Path, start_worker, test_app
) -> None:
    redis_client.flushdb()
    raw = generate_transactions(200, seed=5)
    invoices = raw["InvoiceNo"].drop_duplicates()
    first = raw[raw["InvoiceNo"].isin(invoices.iloc[: len(invoices) // 2])]
    # the second day's export repeats a slice of the first day's invoices
    overlap = raw[raw["InvoiceNo"].isin(invoices.iloc[len(invoices) // 3:])]
    first.to_csv(inbox / "day-1.csv", index=False)
    overlap.to_parquet(inbox / "day-2.parquet", index=False)
    (inbox / "broken.csv").write_text("this is not,a transactions file\n1,2\n")
    (inbox / "still-copying.csv.part").write_text("half a file")

    start_worker()
    test_app.send_task(SCHEDULED_RUN_TASK)
    run = _the_run(clean_db)
    finished = wait_for_status(clean_db, run, ("succeeded", "failed"), timeout=240)
    assert finished["status"] == "succeeded", finished["error"]

    assert sorted(p.name for p in (inbox / DONE).iterdir()) == ["day-1.csv", "day-2.parquet"]
    assert (inbox / REJECTED / "broken.csv").exists()
    reason = (inbox / REJECTED / "broken.csv.reason.txt").read_text()
    assert "broken.csv" in reason and "column" in reason
    assert (inbox / "still-copying.csv.part").exists()
    # every line of every invoice once, the overlap not doubled
    assert count(clean_db, "transactions") == len(raw[raw["InvoiceNo"].isin(
        pd.concat([first, overlap])["InvoiceNo"])])
    assert count(clean_db, "transaction_batches") == 2


def _the_run(engine: Engine, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if count(engine, "runs"):
            with engine.connect() as connection:
                return int(connection.exec_driver_sql("SELECT max(id) FROM runs").scalar_one())
        time.sleep(0.3)
    raise AssertionError("the scheduled run was not queued")
