"""One meaning of Insiders, reasons in words, history by date (issue 10, items 1-4), in
headless Chromium as a viewer: the cards, the CSV export and `insiders runs --json` agree; no
element shows a cluster called "Insiders"; every reason shown is a sentence; a rerun on
unchanged data adds no point to the trend. Screenshots at 1440x900 and 390x844."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import time

import pytest
from selenium.webdriver.common.by import By
from sqlalchemy import text

from store.db import session_scope
from store.users import save_user
from tests.dashboard_seed import seed
from tests.e2e.conftest import (
    ADMIN,
    ARTIFACTS,
    PASSWORD,
    REPO,
    VIEWER,
    clean_env,
    cut_off_text,
    log_in,
    screenshot,
    settle,
    truncate,
    wait_css,
    wait_text,
)
from tests.e2e.test_dashboard_rerun import transactions, worker  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e

SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")


@pytest.fixture
def history(e2e_engine):
    truncate(e2e_engine)
    seed(e2e_engine)
    with session_scope(e2e_engine) as session:
        save_user(session, VIEWER, PASSWORD, "viewer")
    yield e2e_engine
    truncate(e2e_engine)


def cli(e2e_env, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "cli", *args], cwd=REPO,
                            env=clean_env(e2e_env), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout


def phone_screenshot(driver, name: str) -> None:
    """The page at 390 px wide (a phone), whole height, as test-artifacts/NAME.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    driver.set_window_size(390, 844)
    driver.refresh()  # laid out at phone width from the start, as a phone would
    wait_css(driver, ".js-plotly-plot .main-svg")
    settle(driver)
    time.sleep(1)  # plotly's resize to the new width is debounced
    width = driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390, f"{name}: the page is {width} px wide"
    assert not cut_off_text(driver), f"{name}: labels cut off: {cut_off_text(driver)}"
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(390, max(844, min(int(height) + 40, 6000)))
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    driver.set_window_size(1440, 900)


def fold_screenshot(driver, name: str) -> None:
    """What a laptop shows without scrolling (1440x900)."""
    ARTIFACTS.mkdir(exist_ok=True)
    driver.set_window_size(1440, 900)
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def texts(driver, selector: str) -> list[str]:
    return [e.text.strip() for e in driver.find_elements(By.CSS_SELECTOR, selector)]


def figure_names(driver, graph_id: str) -> list[str]:
    """Trace names, node labels and category labels of a Plotly graph."""
    return driver.execute_script("""
        const plot = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
        if (!plot) return [];
        const out = [];
        for (const t of plot.data) {
            if (t.name) out.push(t.name);
            if (t.node && t.node.label) out.push(...t.node.label);
            if (t.type === 'bar' && Array.isArray(t.y))
                out.push(...t.y.filter(v => typeof v === 'string'));
        }
        return out;""", graph_id)


def card_value(driver, title: str) -> str:
    for card in driver.find_elements(By.CSS_SELECTOR, ".card-body"):
        lines = card.text.splitlines()
        if lines and lines[0].strip().lower() == title.lower():
            return lines[1]
    raise AssertionError(f"no card {title!r}")


def test_one_insiders_count_plain_reasons_and_no_cluster_called_insiders(
        history, serve, browser, e2e_env):
    server = serve()
    log_in(browser, server.url, VIEWER, PASSWORD)
    browser.get(server.url + "/")
    wait_css(browser, "#ov-profiles .ag-row")
    wait_css(browser, "#ov-scatter .main-svg")
    wait_css(browser, "#ov-trend .main-svg")
    settle(browser)
    # the trend is above the fold of a laptop screen
    top = browser.execute_script(
        "return document.getElementById('ov-trend').getBoundingClientRect().top")
    assert top < 900
    shown = int(card_value(browser, "Insiders").replace(",", ""))
    runs = json.loads(cli(e2e_env, "runs", "--json"))
    current = next(r for r in runs if r["is_current"])
    rows = list(csv.DictReader(io.StringIO(cli(e2e_env, "export", "insiders"))))
    assert shown == current["n_insiders"] == len(rows)
    members = [int(v) for v in texts(browser, "#ov-profiles .ag-cell[col-id='insiders']")]
    assert sum(members) == shown
    assert "since previous run" in browser.find_element(By.TAG_NAME, "body").text

    names = (texts(browser, "#ov-profiles .ag-cell[col-id='name']")
             + figure_names(browser, "ov-scatter") + figure_names(browser, "ov-revenue")
             + texts(browser, "#ov-scatter .legendtext")
             + texts(browser, "#ov-revenue .ytick text"))
    assert names and "Insiders" not in names
    assert "Top spenders" in names and "Insiders (members)" in names
    # the map's legend says how many of each cluster are Insiders, as the table does
    assert "Top spenders · 9 Insiders" in figure_names(browser, "ov-scatter")
    fold_screenshot(browser, "i10-overview-fold-1440")
    screenshot(browser, "i10-overview-1440")
    phone_screenshot(browser, "i10-overview-390")

    browser.get(server.url + "/changes")
    wait_css(browser, "#ch-grid .ag-row")
    wait_css(browser, "#ch-sankey .main-svg")
    settle(browser)
    assert "Insiders" not in figure_names(browser, "ch-sankey")
    reasons = texts(browser, "#ch-grid .ag-cell[col-id='reason']")
    causes = set(texts(browser, "#ch-grid .ag-cell[col-id='cause']"))
    assert reasons and causes <= {"purchase activity", "inactivity", "new customer",
                                  "model update"}
    for reason in reasons:
        assert reason.startswith(("Entered", "Left")) and reason.endswith("."), reason
        assert ">=" not in reason and not SNAKE.search(reason), reason
    screenshot(browser, "i10-changes-1440")
    phone_screenshot(browser, "i10-changes-390")

    # a reversed pair of dates is swapped and said
    browser.get(server.url + "/changes?from=2011-11-30&to=2011-09-30")
    wait_css(browser, "#ch-grid .ag-row")
    wait_text(browser, "picked the other way round")
    wait_text(browser, "From 30 Sep 2011")
    settle(browser)
    for reason in texts(browser, "#ch-grid .ag-cell[col-id='reason']"):
        assert reason[0].isupper() and reason.endswith("."), reason
        assert ">=" not in reason and not SNAKE.search(reason), reason
    # far apart: every entry and exit of both runs after the first date, each with its date
    with history.connect() as connection:
        stored = dict(connection.execute(text(
            "SELECT kind, count(*) FROM membership_events WHERE run_id IN (2, 3) "
            "GROUP BY kind")).all())
    assert int(browser.find_element(By.ID, "ch-entered").text) == stored.get("entered", 0)
    assert int(browser.find_element(By.ID, "ch-exited").text) == stored.get("exited", 0)
    wait_text(browser, "every entry and exit on the 2 run dates in between")
    dates = set(texts(browser, "#ch-grid .ag-cell[col-id='as_of']"))
    assert dates == {"2011-10-31", "2011-11-30"}, dates
    assert any(r.startswith("As of 31 Oct 2011: ")
               for r in texts(browser, "#ch-grid .ag-cell[col-id='reason']"))
    screenshot(browser, "i10-changes-period-1440")

    customer = texts(browser, "#ch-grid .ag-cell[col-id='customer_id']")[0]
    browser.get(server.url + f"/customer?id={customer}")
    wait_text(browser, f"Customer {customer}")
    settle(browser)
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "cluster Insiders" not in body and ">=" not in body
    assert not SNAKE.search(body.split("Entries and exits", 1)[-1])


def test_a_rerun_on_unchanged_data_adds_no_point(transactions, worker, serve, browser,  # noqa: F811
                                                 e2e_env):
    first = cli(e2e_env, "run", "--wait")
    assert "succeeded" in first
    again = cli(e2e_env, "run", "--wait")
    assert "no change" in again and "run #1" in again
    runs = json.loads(cli(e2e_env, "runs", "--json"))
    assert [(r["id"], r["status"], r["is_current"]) for r in runs] == [
        (2, "unchanged", False), (1, "succeeded", True)]

    server = serve()
    log_in(browser, server.url, ADMIN, PASSWORD)
    browser.get(server.url + "/")
    wait_css(browser, "#ov-trend .main-svg")
    settle(browser)
    points = browser.execute_script(
        "return document.querySelector('#ov-trend .js-plotly-plot').data[0].x.length")
    assert points == 1
    wait_text(browser, "found no change")
    browser.get(server.url + "/admin")
    wait_text(browser, "found no change: same data, parameters and model version as run #1")
    screenshot(browser, "i10-admin-unchanged-1440")
