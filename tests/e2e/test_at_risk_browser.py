"""The At risk page in headless Chromium as a viewer, at 1440 x 900 and 390 x 844: both lists
with their reasons, the navbar link, the CSV of the Insiders at risk, nothing scrolling
sideways on a phone; the Report page's forecast check with its calibration chart; screenshots
test-artifacts/{wide,phone}-{at-risk,report-forecast}.png and wide-overview-at-risk.png."""

from __future__ import annotations

import pandas as pd
import pytest
from selenium.webdriver.common.by import By
from sqlalchemy import select, update

from pipeline.features import customer_features
from pipeline.report_forecast import forecast_evidence
from store.db import session_scope
from store.schema import Run
from store.users import save_user
from tests.dashboard_seed import THRESHOLDS, seed
from tests.e2e.conftest import (
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
from tests.e2e.test_dashboard_exports_phone import _download, _errors
from tests.forecast_seed import seed_forecasts
from tests.unit.forecast_data import AS_OF, synthetic_clean

pytestmark = pytest.mark.e2e


@pytest.fixture
def looking_ahead(e2e_engine):
    truncate(e2e_engine)
    seed(e2e_engine)
    written = seed_forecasts(e2e_engine, 3)
    with session_scope(e2e_engine) as session:
        save_user(session, VIEWER, PASSWORD, "viewer")
    yield written
    truncate(e2e_engine)


def test_at_risk_page_wide_and_on_a_phone(looking_ahead, serve, browser, tmp_path):
    server = serve()
    log_in(browser, server.url, VIEWER, PASSWORD)
    browser.find_element(By.LINK_TEXT, "At risk").click()
    wait_css(browser, "#ar-risk-grid .ag-row")
    wait_css(browser, "#ar-qualify-grid .ag-row")
    settle(browser)
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Insiders at risk (5)" in body and "About to qualify (4)" in body
    first = looking_ahead.dropna(subset=["at_risk_on"]).sort_values(
        "expected_spend", ascending=False).iloc[0]
    assert "with no purchase before" in body and first["at_risk_on"].isoformat() in body
    for name in ("at_risk", "p_active", "expected_spend", "customer_id", "qualify_reason"):
        assert name not in body
    screenshot(browser, "wide-at-risk")

    path = _download(browser, tmp_path, "ar-risk-export", "insiders-at-risk-run-3-as-of-*.csv")
    table = pd.read_csv(path)
    assert len(table) == 5 and pd.api.types.is_numeric_dtype(table["expected_spend"])
    assert table["expected_spend"].is_monotonic_decreasing

    browser.get(server.url + "/")
    wait_css(browser, "#ov-at-risk-link")
    card = browser.find_element(By.ID, "ov-at-risk-link").find_element(
        By.XPATH, "ancestor::div[contains(@class, 'card-body')]").text
    assert card.startswith("AT RISK\n5\n") and "may leave within 30 days" in card
    settle(browser)
    screenshot(browser, "wide-overview-at-risk")

    phone_width(browser)
    browser.get(server.url + "/at-risk")
    wait_css(browser, "#ar-risk-grid .ag-row")
    wait_text(browser, "About to qualify (4)")
    settle(browser)
    assert overflow(browser) == []
    screenshot(browser, "phone-at-risk", phone=True)
    assert _errors(browser) == []


def test_report_page_shows_the_forecast_check_and_calibration(looking_ahead, e2e_engine, serve,
                                                              browser):
    cleaned = synthetic_clean(300)
    features = customer_features(cleaned.transactions, AS_OF)
    labels = features.assign(is_insiders=features["gross_revenue"].rank(pct=True) > 0.9)
    check = forecast_evidence(labels, cleaned.transactions, AS_OF, THRESHOLDS,
                              guest_id_range=cleaned.guest_id_range)
    with e2e_engine.begin() as conn:
        report = conn.execute(select(Run.report).where(Run.id == 3)).scalar_one()
        conn.execute(update(Run).where(Run.id == 3).values(report={**report, "forecast": check}))
    server = serve()
    log_in(browser, server.url, VIEWER, PASSWORD)
    browser.get(server.url + "/report")
    wait_text(browser, "Looking ahead")
    wait_css(browser, "#re-calibration .trace.bars")
    settle(browser)
    body = browser.find_element(By.TAG_NAME, "body").text
    for words in ("Last 90 days repeated", "Lifetime spend rate", "Mean absolute error: on",
                  "Rank correlation: how well", "Top 10% capture: the share",
                  "the Insiders of this run"):
        assert words in body
    screenshot(browser, "wide-report-forecast")
    phone_width(browser)
    browser.refresh()
    wait_css(browser, "#re-calibration .trace.bars")
    settle(browser)
    assert overflow(browser) == []
    screenshot(browser, "phone-report-forecast", phone=True)
