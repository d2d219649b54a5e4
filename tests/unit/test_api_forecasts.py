"""Forecasts in the API's customer and Insiders answers and in ``insiders export insiders``:
numbers as numbers, ISO dates, null for a customer (or a run) without a forecast."""

from __future__ import annotations

import datetime as dt
import io
import json

import pandas as pd
import pytest
from click.testing import CliRunner

import migrations
from cli import cli
from dashboard import cache, data
from dashboard.app import create_app
from settings import load_settings
from store.db import make_engine, session_scope
from store.forecasts import write_forecasts
from store.results import load_labels
from store.tokens import create_token
from tests.dashboard_seed import seed

FIELDS = ["p_active", "expected_purchases", "expected_spend", "at_risk_on", "at_risk_reason"]


@pytest.fixture
def api(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'insiders.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    seed(engine)
    cache.clear()
    monkeypatch.setenv("INSIDERS_DATABASE_URL", url)
    monkeypatch.setenv("INSIDERS_DATA_DIR", str(tmp_path))
    settings = load_settings({"INSIDERS_DATA_DIR": str(tmp_path), "INSIDERS_DATABASE_URL": url})
    client = create_app(settings, engine).server.test_client()
    with session_scope(engine) as session:
        token = create_token(session, "crm", "read")[1]
    yield client, {"Authorization": f"Bearer {token}"}, engine
    engine.dispose()
    cache.clear()


def _forecast(engine) -> tuple[int, int, int]:
    """Forecasts for the current run's Insiders but the last: the first at risk."""
    run = data.current_run(engine)
    insiders = load_labels(engine, run["id"]).query("is_insiders").index.tolist()
    assert len(insiders) >= 3
    ids = insiders[:-1]
    frame = pd.DataFrame({
        "customer_id": ids, "p_active": [0.25] + [0.987654321] * (len(ids) - 1),
        "expected_purchases": [0.5] * len(ids), "expected_spend": [1234.56789] * len(ids),
        "at_risk_on": [dt.date(2011, 12, 20)] + [None] * (len(ids) - 1),
        "at_risk_reason": ["Last bought 80 days ago."] + [None] * (len(ids) - 1),
    })
    with engine.begin() as connection:
        write_forecasts(connection, run["id"], frame)
    return ids[0], ids[1], insiders[-1]


def test_customer_answer_carries_the_forecast(api):
    client, h, engine = api
    risky, calm, without = _forecast(engine)
    body = client.get(f"/api/v1/customers/{risky}", headers=h).get_json()
    assert {k: body[k] for k in FIELDS} == {
        "p_active": 0.25, "expected_purchases": 0.5, "expected_spend": 1234.57,
        "at_risk_on": "2011-12-20", "at_risk_reason": "Last bought 80 days ago."}
    body = client.get(f"/api/v1/customers/{calm}", headers=h).get_json()
    assert body["p_active"] == 0.9877 and body["at_risk_on"] is None
    body = client.get(f"/api/v1/customers/{without}", headers=h).get_json()
    assert all(body[k] is None for k in FIELDS)


def test_insiders_pages_and_csv_carry_the_forecast(api):
    client, h, engine = api
    risky, calm, without = _forecast(engine)
    rows = {r["customer_id"]: r for r in
            client.get("/api/v1/runs/current/insiders", headers=h).get_json()["items"]}
    assert rows[risky]["at_risk_on"] == "2011-12-20" and rows[risky]["p_active"] == 0.25
    assert rows[calm]["expected_spend"] == 1234.57 and rows[calm]["at_risk_reason"] is None
    assert all(rows[without][k] is None for k in FIELDS)
    csv = client.get("/api/v1/runs/current/insiders", headers={**h, "Accept": "text/csv"})
    frame = pd.read_csv(io.StringIO(csv.get_data(as_text=True)))
    assert [c for c in frame.columns if c in FIELDS] == FIELDS
    assert pd.api.types.is_float_dtype(frame["expected_spend"])
    one = frame.set_index("customer_id").loc[risky]
    assert one["at_risk_on"] == "2011-12-20" and one["expected_purchases"] == 0.5


def test_export_insiders_carries_the_forecast(api, tmp_path):
    _client, _h, engine = api
    risky, _calm, _without = _forecast(engine)
    out = tmp_path / "insiders.json"
    result = CliRunner().invoke(cli, ["export", "insiders", "--format", "json", "-o", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = {r["customer_id"]: r for r in json.loads(out.read_text())}
    assert rows[risky]["at_risk_on"] == "2011-12-20"
    assert rows[risky]["expected_spend"] == 1234.57
