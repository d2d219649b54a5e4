"""Customer contact details: file validation with reasons, column mapping, re-import updates,
search, and the ``insiders customers`` and ``insiders webhook`` commands on the embedded store."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine

from cli import cli
from pipeline.contacts import (
    REASON_BAD_CONSENT,
    REASON_BAD_EMAIL,
    REASON_BAD_ID,
    REASON_DUPLICATE,
    REASON_MISSING_ID,
    parse_column_map,
    read_contacts,
    validate_contacts,
)
from pipeline.errors import IngestError
from pipeline.synthetic import write_synthetic
from pipeline.synthetic_contacts import write_contacts
from store.contacts import get_contact, search_contacts
from tests.webhook_receiver import start_receiver, stop_receiver

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_rows_are_rejected_with_their_reason():
    raw = pd.DataFrame({
        "Customer ID": ["12346", "", "12x", "12348", "12349", "12350", "12350"],
        "E-Mail": ["a@example.com", "b@example.com", "c@example.com", "not-an-email",
                   "e@example.com", "F@Example.com", "g@example.com"],
        "Name": ["Ann", "Bo", "Cy", "Di", "Ed", "Flo", "Gus"],
        "Country": ["France"] * 7,
        "Consent": ["yes", "yes", "no", "no", "maybe", "", "Opted-in"],
    })
    contacts = validate_contacts(raw, {"E-Mail": "email"})
    assert contacts.contacts["customer_id"].tolist() == [12346, 12350]
    assert contacts.contacts["marketing_consent"].tolist() == [True, True]
    assert contacts.contacts["name"].tolist() == ["Ann", "Gus"]
    assert contacts.rejects["reason"].tolist() == [
        REASON_MISSING_ID, REASON_BAD_ID, REASON_BAD_EMAIL, REASON_BAD_CONSENT, REASON_DUPLICATE]
    assert contacts.rejects["row"].tolist() == [3, 4, 5, 6, 7]
    assert contacts.rejected_by_reason[REASON_BAD_EMAIL] == 1


def test_blank_consent_is_no_and_blank_email_is_allowed():
    raw = pd.DataFrame({"customer_id": [1], "email": [""], "marketing_consent": [""]})
    contacts = validate_contacts(raw)
    assert not contacts.contacts.iloc[0]["marketing_consent"]
    assert contacts.contacts.iloc[0]["email"] is None


def test_a_file_without_an_id_column_is_refused_by_name(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("email,name\na@example.com,Ann\n")
    with pytest.raises(IngestError, match="no customer id column"):
        read_contacts(path)
    with pytest.raises(IngestError, match="must look like"):
        parse_column_map(["email"])
    assert parse_column_map(["email=E-Mail"]) == {"E-Mail": "email"}


@pytest.fixture
def embedded(tmp_path, monkeypatch):
    monkeypatch.setenv("INSIDERS_DATA_DIR", str(tmp_path / "data"))
    for name in ("INSIDERS_DATABASE_URL", "INSIDERS_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    return create_engine(f"sqlite:///{tmp_path / 'data' / 'insiders.db'}")


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("suffix", ["csv", "xlsx", "parquet"])
def test_import_then_reimport_updates(embedded, tmp_path, suffix):
    first = pd.DataFrame({"Kunde": ["1", "2", ""], "E-Mail": ["a@example.com", "b@example.com",
                                                               "x@example.com"],
                          "name": ["Ann Lee", "Bo Chan", "Nobody"], "country": ["UK"] * 3,
                          "consent": ["yes", "no", "yes"]})
    path = tmp_path / f"contacts.{suffix}"
    write = {"csv": lambda f, p: f.to_csv(p, index=False),
             "xlsx": lambda f, p: f.to_excel(p, index=False),
             "parquet": lambda f, p: f.to_parquet(p, index=False)}[suffix]
    write(first, path)
    printed = invoke("customers", "import", str(path), "--map", "customer_id=Kunde",
                     "--map", "email=E-Mail")
    assert "2 added, 0 updated, 1 rows rejected" in printed and "missing customer id" in printed
    second = first.iloc[:2].assign(consent=["no", "yes"], **{"E-Mail": ["ann@example.com",
                                                                        "b@example.com"]})
    write(second, path)
    printed = invoke("customers", "import", str(path), "--map", "customer_id=Kunde",
                     "--map", "email=E-Mail")
    assert "0 added, 2 updated" in printed
    with embedded.connect() as connection:
        assert get_contact(connection, 1)["email"] == "ann@example.com"
        assert get_contact(connection, 1)["marketing_consent"] is False
        assert get_contact(connection, 2)["marketing_consent"] is True
        assert [c["customer_id"] for c in search_contacts(connection, "CHAN")] == [2]
        assert [c["customer_id"] for c in search_contacts(connection, "ann@")] == [1]
        assert search_contacts(connection, "%") == []
    assert "Bo Chan" in invoke("customers", "search", "bo")


def test_webhook_commands(embedded):
    receiver = start_receiver(SECRET)
    try:
        printed = invoke("webhook", "add", receiver.url, "--secret", SECRET,
                         "--event", "run.succeeded")
        assert "webhook 1:" in printed and SECRET in printed
        assert receiver.url in invoke("webhook", "list")
        assert "answer: 200" in invoke("webhook", "test", "1")
        [(_, payload)] = receiver.wait_for(1)
        assert payload["type"] == "webhook.test"
        assert "delivered after 1 attempt(s)" in invoke("webhook", "deliveries")
        assert "webhook 1 removed" in invoke("webhook", "remove", "1")
        assert invoke("webhook", "list").strip() == "no webhooks"
    finally:
        stop_receiver(receiver)


def test_synthetic_contacts_match_the_transactions_and_import_cleanly(tmp_path):
    transactions = tmp_path / "t.parquet"
    write_synthetic(transactions, 200, seed=4)
    n = write_contacts(transactions, tmp_path / "c.csv", seed=4)
    contacts = read_contacts(tmp_path / "c.csv")
    assert contacts.rejects.empty and len(contacts.contacts) == n
    ids = pd.read_parquet(transactions, columns=["CustomerID"])["CustomerID"].dropna()
    assert set(contacts.contacts["customer_id"]) == set(ids.astype("int64"))
    assert 0.45 < contacts.contacts["marketing_consent"].mean() < 0.75
    assert contacts.contacts["email"].is_unique
