"""Every page in headless Chromium over a seeded history in PostgreSQL, as admin and as viewer."""

from __future__ import annotations

import pytest
import requests
from selenium.webdriver.common.by import By

from store.db import session_scope
from store.users import save_user
from tests.dashboard_seed import seed
from tests.e2e.conftest import (
    ADMIN,
    PASSWORD,
    VIEWER,
    log_in,
    screenshot,
    settle,
    truncate,
    wait_css,
    wait_text,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def history(e2e_engine):
    truncate(e2e_engine)
    seed(e2e_engine)
    with session_scope(e2e_engine) as session:
        save_user(session, VIEWER, PASSWORD, "viewer")
    yield e2e_engine
    truncate(e2e_engine)


def test_unauthenticated_dash_post_is_refused(history, serve):
    server = serve()
    body = {"output": "_pages_content.children", "inputs": [], "state": []}
    same_site = requests.post(server.url + "/_dash-update-component", json=body,
                              headers={"Origin": server.url}, timeout=10)
    assert same_site.status_code == 401
    assert requests.post(server.url + "/_dash-update-component", json=body,
                         timeout=10).status_code == 403
    assert requests.get(server.url + "/_dash-layout", timeout=10).status_code == 401


def test_admin_sees_every_page(history, serve, browser):
    server = serve()
    browser.get(server.url + "/changes")
    wait_css(browser, "#login-submit")
    screenshot(browser, "00-login")
    log_in(browser, server.url, ADMIN, PASSWORD)

    browser.get(server.url + "/")
    wait_text(browser, "Cluster profiles")
    wait_css(browser, "#ov-scatter .main-svg")
    wait_css(browser, "#ov-profiles .ag-row")
    settle(browser)
    assert "Run #4 failed" not in browser.page_source
    wait_text(browser, "The latest run #4 failed: no transactions after 2011-11-30.")
    assert "PipelineInputError" not in browser.find_element(By.TAG_NAME, "body").text
    screenshot(browser, "01-overview")

    browser.get(server.url + "/changes")
    wait_css(browser, "#ch-grid .ag-row")
    wait_css(browser, "#ch-sankey .sankey")
    settle(browser)
    screenshot(browser, "02-changes")

    browser.get(server.url + "/customer?id=12011")
    wait_text(browser, "Customer 12011:")
    wait_text(browser, "Entries and exits")
    settle(browser)
    screenshot(browser, "03-customer")

    browser.get(server.url + "/report")
    wait_text(browser, "7. Evidence")
    settle(browser)
    screenshot(browser, "04-report")

    browser.get(server.url + "/admin")
    wait_css(browser, "#ad-history .ag-row")
    wait_text(browser, "no transactions after 2011-11-30")
    settle(browser)
    # a failed run's reason in words: the message, never the exception's class name
    assert "PipelineInputError" not in browser.find_element(By.TAG_NAME, "body").text
    screenshot(browser, "05-admin")


def test_viewer_cannot_reach_the_run_button(history, serve, browser):
    server = serve()
    log_in(browser, server.url, VIEWER, PASSWORD)
    browser.get(server.url + "/")
    wait_text(browser, "Cluster profiles")
    nav = browser.find_element(By.CLASS_NAME, "navbar").text
    assert "Overview" in nav and "Admin" not in nav
    browser.get(server.url + "/admin")
    wait_text(browser, "Admins only")
    assert not browser.find_elements(By.ID, "ad-run-now")
    screenshot(browser, "06-viewer-admin")
