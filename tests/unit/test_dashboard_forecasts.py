"""The dashboard's reads of forecasts (dashboard/data_forecasts.py) and the At risk page, on a
SQLite database migrated to head with the dashboard seed and forecasts for its current run."""

from __future__ import annotations

import io
from datetime import date

import pandas as pd
import pytest
from sqlalchemy import delete

import migrations
from dashboard import cache
from dashboard import data_forecasts as ahead
from dashboard.app import create_app
from settings import load_settings
from store import insiders_file, run_files
from store.db import make_engine, session_scope
from store.schema import RunFile
from store.users import save_user
from tests.dashboard_seed import AS_OF, call, login, page, seed
from tests.forecast_seed import seed_forecasts

CURRENT = 3


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('ahead') / 'insiders.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    seed(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def written(engine) -> pd.DataFrame:
    return seed_forecasts(engine, CURRENT)


def test_at_risk_list_is_the_runs_insiders_at_risk_most_valuable_first(engine, written):
    listed = ahead.at_risk(CURRENT, engine=engine)
    expected = written[written["at_risk_reason"].notna()].sort_values(
        ["expected_spend", "customer_id"], ascending=[False, True])
    assert listed["customer_id"].tolist() == expected["customer_id"].tolist()
    assert listed["at_risk_reason"].tolist() == expected["at_risk_reason"].tolist()
    as_of = AS_OF[-1]
    for on, days in zip(listed["at_risk_on"], listed["days_left"], strict=True):
        assert pd.isna(days) if on is None else days == (on - as_of).days > 0
    assert ahead.at_risk_count(CURRENT, engine) == len(expected) == 5


def test_about_to_qualify_list(engine, written):
    listed = ahead.about_to_qualify(CURRENT, engine=engine)
    expected = written[written["qualify_reason"].notna()]
    assert sorted(listed["customer_id"]) == sorted(expected["customer_id"])
    assert listed["expected_spend"].is_monotonic_decreasing


def test_csv_files_hold_numbers_iso_dates_and_the_as_of_date_in_their_names(engine, written):
    name, text = ahead.forecast_csv(CURRENT, "at-risk", engine)
    assert name == f"insiders-at-risk-run-{CURRENT}-as-of-{AS_OF[-1].isoformat()}.csv"
    table = pd.read_csv(io.StringIO(text))
    assert tuple(table.columns) == ahead.AT_RISK_CSV_COLUMNS
    assert all(pd.api.types.is_numeric_dtype(table[c])
               for c in ("customer_id", "days_left", "expected_spend", "p_active"))
    dates = table["leaves_on"].dropna()
    assert len(dates) == 4 and all(date.fromisoformat(d) > AS_OF[-1] for d in dates)
    assert table["reason"].str.endswith(".").all()
    name, text = ahead.forecast_csv(CURRENT, "about-to-qualify", engine)
    assert name == f"insiders-about-to-qualify-run-{CURRENT}-as-of-{AS_OF[-1].isoformat()}.csv"
    table = pd.read_csv(io.StringIO(text))
    assert tuple(table.columns) == ahead.QUALIFY_CSV_COLUMNS and len(table) == 4
    assert pd.api.types.is_float_dtype(table["expected_purchases"])
    assert table["qualifies_on"].map(date.fromisoformat).min() > AS_OF[-1]


def test_one_customers_forecast(engine, written):
    risky = written[written["at_risk_on"].notna()].iloc[0]
    found = ahead.customer_forecast(CURRENT, int(risky["customer_id"]), engine)
    assert found["at_risk_on"] == risky["at_risk_on"]
    assert found["expected_spend"] == pytest.approx(risky["expected_spend"])
    assert found["qualifies_on"] is None and found["qualify_reason"] is None
    assert ahead.customer_forecast(CURRENT, 99_999_999, engine) is None


def test_a_run_without_forecasts_has_no_count_and_empty_lists(engine, written):
    assert ahead.forecast_info(2, engine) == {}
    assert ahead.at_risk_count(2, engine) is None
    assert ahead.at_risk(2, engine=engine).empty
    assert ahead.forecast_info(CURRENT, engine)["horizon_days"] == 90


@pytest.fixture(scope="module")
def viewer(tmp_path_factory):
    """The real app on a seeded database with forecasts for the current run, as a viewer."""
    tmp = tmp_path_factory.mktemp("ahead-app")
    url = f"sqlite:///{tmp / 'insiders.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    seed(engine)
    written = seed_forecasts(engine, CURRENT)
    settings = load_settings({"INSIDERS_DATA_DIR": str(tmp), "INSIDERS_DATABASE_URL": url})
    with session_scope(engine) as session:
        save_user(session, "vic", "correct-horse-1", "viewer")
    client = create_app(settings, engine).server.test_client()
    assert login(client, "vic", "correct-horse-1").status_code == 302
    client.application.config["TEST_ENGINE"] = engine  # the app's database, for direct writes
    yield client, written
    engine.dispose()


def test_at_risk_page_lists_both_with_reasons_and_exports_them(viewer):
    client, written = viewer
    text = page(client, "/at-risk").get_data(as_text=True)
    assert "Insiders at risk (5)" in text and "About to qualify (4)" in text
    for reason in written["at_risk_reason"].dropna():
        assert reason in text
    for header in ("Leaves on", "Chance still active", "Expected spend, next 90 days", "Why",
                   "Could join by"):
        assert f'"headerName": "{header}' in text.replace('":"', '": "')
    response = call(client, [("ar-risk-download", "data")],
                    [("ar-risk-export", "n_clicks", 1)], [("ar-run", "data", CURRENT)])
    file = response.get_json()["response"]["ar-risk-download"]["data"]
    assert file["filename"].endswith(f"-as-of-{AS_OF[-1].isoformat()}.csv")
    assert file["content"].splitlines()[0] == ",".join(ahead.AT_RISK_CSV_COLUMNS)
    refused = call(client, [("ar-qualify-download", "data")],
                   [("ar-qualify-export", "n_clicks", 1)], [("ar-run", "data", "1; drop")])
    assert refused.get_json()["response"]["ar-qualify-download"]["data"]["filename"] \
        == "not-available.txt"


def test_overview_card_and_customer_page_show_the_forecast(viewer):
    client, written = viewer
    overview = page(client, "/").get_data(as_text=True)
    assert "At risk" in overview and "Insiders may leave within 30 days" in overview
    risky = written[written["at_risk_on"].notna()].iloc[0]
    customer = int(risky["customer_id"])
    found = call(client, [("cu-result", "children")],
                 [("cu-find", "n_clicks", 1), ("cu-input", "value", customer)],
                 [("cu-input", "value", customer)]).get_data(as_text=True)
    assert "Next 90 days: " in found and "purchases and" in found
    assert f"leaves on {risky['at_risk_on']:%d %b %Y} unless they buy" in found
    assert risky["at_risk_reason"] in found


def test_the_report_pages_insiders_csv_carries_the_forecast(viewer):
    client, written = viewer
    response = call(client, [("re-csv", "data")], [("re-csv-button", "n_clicks", 1)],
                    [("re-run", "data", CURRENT)])
    file = response.get_json()["response"]["re-csv"]["data"]
    table = pd.read_csv(io.StringIO(file["content"]))
    assert {"p_active", "expected_purchases", "expected_spend", "at_risk_on"} <= set(table.columns)
    assert len(table) > 0 and pd.api.types.is_float_dtype(table["expected_spend"])
    want = written.set_index("customer_id")["expected_spend"]
    assert table["expected_spend"].to_numpy() == pytest.approx(
        want.reindex(table["customer_id"]).to_numpy())


def test_the_insiders_csv_is_the_file_written_with_the_run_when_there_is_one(viewer):
    client, _written = viewer
    engine = client.application.config["TEST_ENGINE"]

    def download() -> str:
        cache.clear()
        response = call(client, [("re-csv", "data")], [("re-csv-button", "n_clicks", 1)],
                        [("re-run", "data", CURRENT)])
        return response.get_json()["response"]["re-csv"]["data"]["content"]

    built = insiders_file.insiders_csv(engine, CURRENT)
    assert download() == built  # no file yet: built on demand
    insiders_file.write_insiders_csv(engine, CURRENT)
    assert run_files.read_file(engine, CURRENT, run_files.INSIDERS_CSV) == built
    run_files.write_file(engine, CURRENT, run_files.INSIDERS_CSV, "customer_id\n12011\n")
    try:
        assert download() == "customer_id\n12011\n"  # the stored file, not a new build
    finally:
        with engine.begin() as connection:
            connection.execute(delete(RunFile))
        cache.clear()
