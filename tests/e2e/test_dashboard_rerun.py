"""An admin starts a run from the browser; a real Celery worker runs the real pipeline on
synthetic transactions; the admin page follows its progress (also after a reload) to the end."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from selenium.webdriver.common.by import By
from sqlalchemy import text

from tests.conftest import reach
from tests.e2e.conftest import (
    ADMIN,
    PASSWORD,
    REPO,
    clean_env,
    log_in,
    screenshot,
    truncate,
    wait_css,
    wait_text,
)

pytestmark = pytest.mark.e2e

N_CUSTOMERS = 400


@pytest.fixture
def transactions(e2e_engine, e2e_env, tmp_path):
    """An empty history with synthetic transactions ingested through the real CLI."""
    from pipeline.synthetic import write_synthetic

    truncate(e2e_engine)
    path = tmp_path / "synthetic.parquet"
    write_synthetic(path, N_CUSTOMERS, seed=5)
    result = subprocess.run([sys.executable, "-m", "cli",
                             "ingest", str(path)], cwd=REPO, env=clean_env(e2e_env),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    yield e2e_engine
    truncate(e2e_engine)


@pytest.fixture
def worker(e2e_env, tmp_path):
    """A real Celery worker on Redis db 14 (emptied first), stopped after the test."""
    import redis

    client = redis.Redis.from_url(e2e_env["INSIDERS_BROKER_URL"])
    reach(client.ping, f"Redis at {e2e_env['INSIDERS_BROKER_URL']}")
    client.flushdb()
    log = tmp_path / "worker.log"
    command = [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
               "--pool=solo", "--loglevel=INFO", "--without-mingle", "--without-gossip",
               "--hostname=e2e-dashboard@%h"]
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=REPO, env=clean_env(e2e_env), stdout=out,
                                   stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while " ready." not in log.read_text(errors="replace"):
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.3)
    yield log
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    client.flushdb()


def _status(engine) -> str | None:
    with engine.connect() as connection:
        return connection.execute(text("SELECT status FROM runs ORDER BY id DESC LIMIT 1")).scalar()


def test_admin_starts_a_run_and_watches_it_finish(transactions, worker, serve, browser):
    server = serve()
    log_in(browser, server.url, ADMIN, PASSWORD)
    browser.get(server.url + "/")
    wait_text(browser, "No runs yet")
    screenshot(browser, "07-overview-no-runs")

    browser.get(server.url + "/admin")
    wait_css(browser, "#ad-run-now")
    browser.find_element(By.ID, "ad-run-now").click()
    wait_text(browser, "Run #1 queued")
    # the progress lives in the runs table: a reload shows the same run
    browser.refresh()
    wait_text(browser, "Run #1", timeout=30)
    deadline = time.monotonic() + 40
    while _status(transactions) == "queued" and time.monotonic() < deadline:
        time.sleep(0.5)
    if _status(transactions) == "running":
        wait_css(browser, "#ad-progress .progress-bar")
        screenshot(browser, "08-admin-run-in-progress")
    wait_text(browser, "Latest run #1 succeeded", timeout=300)
    screenshot(browser, "09-admin-run-finished")

    with transactions.connect() as connection:
        requested = connection.execute(text(
            "SELECT username FROM audit_log WHERE action = 'run_requested'")).scalars().all()
        run = connection.execute(text(
            "SELECT trigger, requested_by, n_customers FROM runs WHERE id = 1")).one()
    assert requested == [ADMIN]
    assert (run.trigger, run.requested_by) == ("manual", ADMIN)
    assert run.n_customers > 0

    browser.get(server.url + "/")
    wait_text(browser, "Cluster profiles")
    wait_css(browser, "#ov-scatter .main-svg")
    screenshot(browser, "10-overview-after-run")
    browser.get(server.url + "/report")
    wait_text(browser, "Report")
    screenshot(browser, "11-report-real-run")
