"""Ingest by invoice on PostgreSQL: overlapping exports, `insiders batches`, values past the
columns' sizes. The property test through COPY is in test_ingest_property_pg_*.py."""

from __future__ import annotations

import pytest

from .conftest import count, run_cli

pytestmark = pytest.mark.integration

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def _line(invoice: int, day: int = 1) -> str:
    return f"{invoice},85123A,HEART,6,2010-12-{day:02d} 08:26,2.55,17850,United Kingdom"


def _file(tmp_path, name: str, lines: list[str]):
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


def test_an_overlapping_export_is_loaded_once_and_a_batch_can_be_removed(
    clean_db, service_env, tmp_path
):
    monday = [_line(536000 + i // 2) for i in range(200)]  # 100 invoices of two rows
    tuesday = monday[:100] + [_line(537000 + i, day=2) for i in range(50)]
    first = run_cli(["ingest", str(_file(tmp_path, "monday.csv", monday))], service_env)
    assert first.returncode == 0, first.stderr
    second = run_cli(["ingest", str(_file(tmp_path, "tuesday.csv", tuesday))], service_env)
    assert second.returncode == 0, second.stderr
    assert "150 rows read, 50 accepted, 0 rejected, 100 already loaded" in second.stdout
    assert count(clean_db, "transactions") == 250
    assert count(clean_db, "batch_invoices") == 150  # a row per invoice, not per line

    listed = run_cli(["batches"], service_env)
    assert listed.returncode == 0, listed.stderr
    assert "batch 1: monday.csv" in listed.stdout and "200 rows, 100 invoices" in listed.stdout
    assert "batch 2: tuesday.csv" in listed.stdout and "50 rows, 50 invoices" in listed.stdout

    removed = run_cli(["batches", "remove", "2"], service_env)
    assert removed.returncode == 0, removed.stderr
    assert "50 rows, 50 invoices, 2010-12-02 to 2010-12-02" in removed.stdout
    assert count(clean_db, "transactions") == 200
    assert count(clean_db, "transaction_batches") == 1
    assert count(clean_db, "batch_invoices") == 100
    again = run_cli(["ingest", str(_file(tmp_path, "tuesday-again.csv", tuesday))], service_env)
    assert "150 rows read, 50 accepted, 0 rejected, 100 already loaded" in again.stdout
    assert run_cli(["batches", "remove", "3"], service_env).returncode == 0

    missing = run_cli(["batches", "remove", "2"], service_env)
    assert missing.returncode != 0 and "no batch 2" in missing.stderr


def test_values_past_the_column_sizes_are_rejected_not_a_copy_failure(
    clean_db, service_env, tmp_path
):
    lines = [
        _line(1),
        "2,85123A," + "D" * 301 + ",6,2010-12-01 08:26,2.55,17850,UK",
        "3" * 33 + ",85123A,HEART,6,2010-12-01 08:26,2.55,17850,UK",
        "4,85123A,HEART,6,2010-12-01 08:26,1e308,17850,UK",
        "5,85123A,HEART,6,12/31/9999,2.55,17850,UK",
    ]
    result = run_cli(["ingest", str(_file(tmp_path, "odd.csv", lines))], service_env)
    assert result.returncode == 0, result.stderr
    assert "5 rows read, 1 accepted, 4 rejected" in result.stdout
    assert count(clean_db, "transactions") == 1
