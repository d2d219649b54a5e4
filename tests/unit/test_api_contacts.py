"""Contact details in the API's customer, Insiders and changes answers and in
``insiders export``: present when imported, null when unknown, fresh after a re-import."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from click.testing import CliRunner

import migrations
from cli import cli
from dashboard import cache
from dashboard.app import create_app
from settings import load_settings
from store.contacts import upsert_contacts
from store.db import make_engine, session_scope
from store.tokens import create_token
from tests.dashboard_seed import seed

CONTACT = ["email", "name", "country", "marketing_consent"]


def _import(engine, rows: list[dict]) -> None:
    with engine.begin() as connection:
        upsert_contacts(connection, pd.DataFrame(rows))


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


def _people(client, h) -> tuple[int, int]:
    """An Insider of the current run and a customer who left Insiders in it."""
    insider = client.get("/api/v1/runs/current/insiders", headers=h).get_json()["items"][0]
    mover = client.get("/api/v1/runs/current/changes?kind=exited",
                       headers=h).get_json()["items"][0]
    return insider["customer_id"], mover["customer_id"]


def test_customer_insiders_and_changes_carry_contacts_null_when_unknown(api):
    client, h, engine = api
    insider, mover = _people(client, h)
    assert client.get(f"/api/v1/customers/{insider}", headers=h).get_json()["contact"] is None
    before = client.get("/api/v1/runs/current/insiders", headers=h)
    _import(engine, [
        {"customer_id": insider, "email": "ann@example.com", "name": "Ann", "country": "France",
         "marketing_consent": True},
        {"customer_id": mover, "email": "bo@example.com", "name": None, "country": None,
         "marketing_consent": False},
    ])
    customer = client.get(f"/api/v1/customers/{insider}", headers=h).get_json()
    assert customer["contact"] == {"email": "ann@example.com", "name": "Ann",
                                   "country": "France", "marketing_consent": True}
    again = client.get("/api/v1/runs/current/insiders",
                       headers={**h, "If-None-Match": before.headers["ETag"]})
    assert again.status_code == 200  # a re-import changes the answer, so its ETag
    rows = {r["customer_id"]: r for r in again.get_json()["items"]}
    assert {k: rows[insider][k] for k in CONTACT} == customer["contact"]
    assert all(r[k] is None for r in rows.values() if r["customer_id"] != insider
               for k in CONTACT)
    changes = client.get("/api/v1/runs/current/changes", headers=h).get_json()["items"]
    moved = next(r for r in changes if r["customer_id"] == mover)
    assert (moved["email"], moved["name"], moved["marketing_consent"]) == (
        "bo@example.com", None, False)
    csv = client.get("/api/v1/runs/current/insiders",
                     headers={**h, "Accept": "text/csv"}).get_data(as_text=True)
    table = pd.read_csv(io.StringIO(csv))
    assert list(table.columns[-4:]) == CONTACT
    assert table.set_index("customer_id").loc[insider, "email"] == "ann@example.com"


def test_a_re_import_shows_at_once(api):
    client, h, engine = api
    insider, _mover = _people(client, h)
    _import(engine, [{"customer_id": insider, "email": "a@example.com", "name": "A",
                      "country": None, "marketing_consent": False}])
    assert client.get("/api/v1/runs/current/insiders", headers=h).get_json()["items"][0][
        "email"] == "a@example.com"
    _import(engine, [{"customer_id": insider, "email": "new@example.com", "name": "A",
                      "country": None, "marketing_consent": True}])
    first = client.get("/api/v1/runs/current/insiders", headers=h).get_json()["items"][0]
    assert (first["email"], first["marketing_consent"]) == ("new@example.com", True)


def test_exports_include_contacts(api, tmp_path):
    client, h, engine = api
    insider, mover = _people(client, h)
    _import(engine, [{"customer_id": c, "email": f"{c}@example.com", "name": f"N{c}",
                      "country": "Spain", "marketing_consent": c == insider}
                     for c in (insider, mover)])
    runner = CliRunner()
    printed = runner.invoke(cli, ["export", "insiders"], catch_exceptions=False).output
    table = pd.read_csv(io.StringIO(printed)).set_index("customer_id")
    assert list(table.columns[-4:]) == CONTACT
    assert table.loc[insider, "email"] == f"{insider}@example.com"
    assert bool(table.loc[insider, "marketing_consent"])
    assert table.drop(index=insider)["email"].isna().all()
    out = tmp_path / "changes.json"
    runner.invoke(cli, ["export", "changes", "--format", "json", "-o", str(out)],
                  catch_exceptions=False)
    rows = {r["customer_id"]: r for r in json.loads(out.read_text())}
    assert (rows[mover]["email"], rows[mover]["country"]) == (f"{mover}@example.com", "Spain")
    assert rows[mover]["marketing_consent"] is (mover == insider)
    parquet = tmp_path / "changes.parquet"
    runner.invoke(cli, ["export", "changes", "--format", "parquet", "-o", str(parquet)],
                  catch_exceptions=False)
    assert set(CONTACT) <= set(pd.read_parquet(parquet).columns)
