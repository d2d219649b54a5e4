"""`insiders ingest`: a batch per content, counts by reason, bad input changes nothing."""

from __future__ import annotations

import pytest

from .conftest import count, run_cli

pytestmark = pytest.mark.integration

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
ROWS = (
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850,UK\n"
    "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850,UK\n"
    "536366,22633,HAND WARMER UNION JACK,6,2010-12-01 08:28:00,1.85,,UK\n"
    "536367,84879,ASSORTED COLOUR BIRD ORNAMENT,lots,2010-12-01 08:34:00,1.69,13047,UK\n"
    "536368,22960,JAM MAKING SET WITH JARS,6,2010-12-01 08:34:00,4.25,13047,UK\n"
)


@pytest.fixture
def cli_env(service_env):
    return service_env


def _snapshot(engine) -> tuple[int, int]:
    return count(engine, "transaction_batches"), count(engine, "transactions")


def test_ingest_once_per_content_with_rejects_by_reason(clean_db, cli_env, tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text(HEADER + ROWS)
    first = run_cli(["ingest", str(path), "--profile", "default"], cli_env)
    assert first.returncode == 0, first.stderr
    assert "batch 1: 5 rows read, 4 accepted, 1 rejected" in first.stdout
    assert _snapshot(clean_db) == (1, 4)
    with clean_db.connect() as connection:
        from sqlalchemy import text

        batch = connection.execute(text("SELECT * FROM transaction_batches")).mappings().one()
    assert batch["n_rejected"] == 1 and sum(batch["rejected_by_reason"].values()) == 1
    assert batch["profile"] == "default"

    copy = tmp_path / "same-content-other-name.csv"
    copy.write_bytes(path.read_bytes())
    again = run_cli(["ingest", str(copy)], cli_env)
    assert again.returncode == 0, again.stderr
    assert "already loaded as batch 1" in again.stdout and "nothing added" in again.stdout
    assert _snapshot(clean_db) == (1, 4)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(HEADER.replace("Quantity,", "") + "x,y\n", id="missing-column"),
        pytest.param(b"\x00\x01\x02 not a table \xff\xfe", id="malformed"),
    ],
)
def test_bad_input_leaves_the_database_as_it_was(clean_db, cli_env, tmp_path, content):
    good = tmp_path / "good.csv"
    good.write_text(HEADER + ROWS)
    assert run_cli(["ingest", str(good)], cli_env).returncode == 0
    before = _snapshot(clean_db)
    bad = tmp_path / "bad.csv"
    if isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        bad.write_text(content)
    result = run_cli(["ingest", str(bad)], cli_env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert _snapshot(clean_db) == before


def test_unknown_profile_is_one_line_error(clean_db, cli_env, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text(HEADER + ROWS)
    result = run_cli(["ingest", str(good), "--profile", "no-such-profile"], cli_env)
    assert result.returncode == 2 and result.stderr.startswith("error: ")
    assert _snapshot(clean_db) == (0, 0)
