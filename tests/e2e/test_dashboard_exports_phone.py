"""CSV files that import as numbers, a customer box that answers anything typed, and every page
at a phone's 390 x 844 without sideways scrolling; screenshots of every page at both widths."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from store.db import session_scope
from store.users import save_user
from tests.dashboard_seed import seed
from tests.e2e.conftest import (
    ADMIN,
    PASSWORD,
    VIEWER,
    log_in,
    overflow,
    phone_width,
    screenshot,
    settle,
    truncate,
    wait_css,
    wait_text,
)

pytestmark = pytest.mark.e2e
PAGES = {"overview": ("/", "#ov-profiles .ag-row"), "changes": ("/changes", "#ch-grid .ag-row"),
         "customer": ("/customer?id=12011", "#cu-result .js-plotly-plot"),
         "report": ("/report", ".report-answer"), "admin": ("/admin", "#ad-history .ag-row"),
         "not-found": ("/no-such-page", "#_pages_content .alert")}


@pytest.fixture
def history(e2e_engine):
    truncate(e2e_engine)
    seed(e2e_engine)
    with session_scope(e2e_engine) as session:
        save_user(session, VIEWER, PASSWORD, "viewer")
    yield e2e_engine
    truncate(e2e_engine)


def _errors(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _download(driver, folder: Path, button: str, pattern: str) -> Path:
    driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(folder)})
    driver.execute_script("arguments[0].click()", driver.find_element(By.ID, button))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done = [p for p in folder.glob(pattern) if not p.name.endswith(".crdownload")]
        if done:
            return done[0]
        time.sleep(0.2)
    raise AssertionError(f"no {pattern} downloaded into {folder}: {list(folder.iterdir())}")


def test_csv_exports_parse_into_numbers(history, serve, browser, tmp_path):
    server = serve()
    log_in(browser, server.url, ADMIN, PASSWORD)
    browser.get(server.url + "/report")
    wait_text(browser, "7. Evidence")
    settle(browser)
    path = _download(browser, tmp_path, "re-csv-button", "insiders-run-*-as-of-*.csv")
    table = pd.read_csv(path)
    assert list(table.columns[:3]) == ["customer_id", "cluster", "cluster_name"]
    for column in ("gross_revenue", "recency_days", "invoice_quantity", "avg_ticket", "run_id"):
        assert pd.api.types.is_numeric_dtype(table[column]), column
    assert (table["gross_revenue"].round(2) == table["gross_revenue"]).all()
    assert pd.to_datetime(table["as_of"], format="%Y-%m-%d").notna().all()

    browser.get(server.url + "/")
    wait_css(browser, "#ov-profiles .ag-row")
    settle(browser)
    path = _download(browser, tmp_path, "ov-export", "clusters*.csv")
    clusters = pd.read_csv(path)
    assert all(name == name.lower() and " " not in name for name in clusters.columns)
    numeric = clusters.select_dtypes("number").columns
    assert len(numeric) >= 3 and "%" not in path.read_text(encoding="utf-8")

    browser.get(server.url + "/changes")
    wait_css(browser, "#ch-grid .ag-row")
    settle(browser)
    path = _download(browser, tmp_path, "ch-export", "insiders-changes-run-*-to-run-*.csv")
    changes = pd.read_csv(path)
    assert {"run_from", "as_of_from", "run_to", "as_of_to"} <= set(changes.columns)
    assert pd.api.types.is_numeric_dtype(changes["change_gross_revenue"]) and len(changes)
    assert not _errors(browser)


@pytest.mark.parametrize("typed", ["1" * 40, "1.5", "-1", "<script>alert(1)</script>"])
def test_customer_box_answers_anything_typed(history, serve, browser, typed):
    server = serve()
    log_in(browser, server.url, VIEWER, PASSWORD)
    browser.get(server.url + "/customer")
    wait_text(browser, "Type a customer id")
    box = browser.find_element(By.ID, "cu-input")
    box.send_keys(typed, Keys.ENTER)
    wait_css(browser, "#cu-result .alert")
    settle(browser)
    message = browser.find_element(By.CSS_SELECTOR, "#cu-result .alert").text
    assert "not a customer id" in message or "No customer" in message, message
    assert "Customer 1:" not in browser.find_element(By.TAG_NAME, "body").text
    assert not _errors(browser), _errors(browser)


def test_a_bad_id_in_the_address_gets_a_message(history, serve, browser):
    server = serve()
    log_in(browser, server.url, VIEWER, PASSWORD)
    for value in ("1" * 40, "1.5", "-1"):
        browser.get(f"{server.url}/customer?id={value}")
        wait_css(browser, "#cu-result .alert")
        settle(browser)
        assert "No customer" in browser.find_element(By.ID, "cu-result").text or \
            "not a customer id" in browser.find_element(By.ID, "cu-result").text
    assert not _errors(browser), _errors(browser)


@pytest.mark.parametrize("user", [ADMIN, VIEWER])
def test_every_page_fits_a_phone(history, serve, browser, user):
    server = serve()
    log_in(browser, server.url, user, PASSWORD)
    problems = {}
    for name, (path, ready) in PAGES.items():
        if name == "admin" and user == VIEWER:
            ready = "#_pages_content .alert"
        browser.get(server.url + path)
        wait_css(browser, ready)
        settle(browser)
        time.sleep(0.5)  # plotly draws after the callbacks settle
        screenshot(browser, f"wide-{user}-{name}")
        phone_width(browser)
        time.sleep(0.8)  # the charts resize to the narrower page
        if found := overflow(browser):
            problems[name] = found
        screenshot(browser, f"phone-{user}-{name}", phone=True)
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert not problems, problems
    phone_width(browser)
    browser.get(server.url + "/")
    wait_css(browser, ".navbar-toggler")
    assert not browser.find_element(By.ID, "shell-collapse").is_displayed()
    browser.find_element(By.CLASS_NAME, "navbar-toggler").click()
    wait_text(browser, "Report")
    assert browser.find_element(By.LINK_TEXT, "Report").is_displayed()
    assert not _errors(browser), _errors(browser)
