"""Forecasts of a run go into the database and come back as they were (numbers to their stored
decimals), on PostgreSQL and SQLite (the Insiders' alone as well); every customer's numbers are
files of the run and only the rows with a date or a reason are rows of the table; runs stored a
row per customer still read; the at-risk and about-to-qualify lists come sorted by expected
spend; the worker's role writes forecasts and the dashboard's role only reads them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, create_engine, insert, select, text
from sqlalchemy.exc import ProgrammingError

import migrations
from store.db import make_engine, session_scope
from store.forecast_files import NOTES_SUFFIX, file_name
from store.forecasts import (
    DECIMALS,
    FILE_PREFIX,
    FORECAST_COLUMNS,
    Forecast,
    about_to_qualify,
    at_risk,
    forecast_metrics,
    insiders_forecasts,
    read_forecasts,
    write_forecasts,
)
from store.labels import LabelStage
from store.partitions import discard_rows
from store.results import publish_run_labels
from store.roles import grant_privileges
from store.run_files import store_bytes
from store.run_inputs import CustomerRange
from store.runs import create_run
from store.schema import RunFile

pytestmark = pytest.mark.integration


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": [12347, 12348, 12349, 2**40, 12350],
        "p_active": [0.99, 0.31, np.nan, 0.123456789012345, 1.0],
        "expected_purchases": [2.5, 0.1, np.nan, 1e-12, 3.0],
        "expected_spend": [1234.5678901234567, 10.0, np.nan, 99.0, 5000.0],
        "at_risk_on": [dt.date(2011, 10, 1), None, None, None, None],
        "at_risk_reason": ['Last bought "long" ago;\nleaves soon.', "Low chance, 31%.",
                           None, None, None],
        "qualifies_on": [None, None, None, dt.date(2011, 10, 9), dt.date(2011, 10, 9)],
        "qualify_reason": [None, None, None, "Expected to buy, ünïcødé ✓", "Big buyer."],
    })


def _label(run_id: int, customer: int, insider: bool) -> dict:
    return {"run_id": run_id, "customer_id": customer, "cluster": 0, "is_insiders": insider,
            "gross_revenue": 1.0, "recency_days": 1, "invoice_quantity": 1, "items_quantity": 1,
            "products_quantity": 1, "avg_ticket": 1.0, "embedding_x": 0.0, "embedding_y": 0.0}


def _run(engine: Engine) -> int:
    with session_scope(engine) as session:
        run = create_run(session, trigger="cli")
        run.status, run.active_slot, run.as_of = "succeeded", None, dt.date(2011, 12, 9)
        return run.id


def _assert_round_trip(engine: Engine) -> None:
    run_id = _run(engine)
    frame = _frame()
    with engine.begin() as connection:
        assert write_forecasts(connection, run_id, frame) == len(frame)
    back = read_forecasts(engine, run_id)
    assert list(back.columns) == list(FORECAST_COLUMNS)
    expected = _rounded(frame).sort_values("customer_id", ignore_index=True)
    assert expected.loc[expected["customer_id"] == 12347, "expected_spend"].item() == 1234.57
    pd.testing.assert_frame_equal(back, expected, check_exact=True, check_dtype=False)
    assert back["customer_id"].dtype == "int64" and back["p_active"].dtype == float

    some = read_forecasts(engine, run_id, customer_ids=[12349, 12347, 1])
    assert some["customer_id"].tolist() == [12347, 12349]
    with engine.connect() as connection:  # a connection works as well as an engine
        assert len(read_forecasts(connection, run_id, customer_ids=range(12340, 12400))) == 4

    risky = at_risk(engine, run_id)
    assert risky["customer_id"].tolist() == [12347, 12348]
    assert risky.loc[0, "at_risk_on"] == dt.date(2011, 10, 1)
    assert risky.loc[1, "at_risk_on"] is None
    assert about_to_qualify(engine, run_id)["customer_id"].tolist() == [12350, 2**40]
    # the run has no forecast metrics here; the count is the at-risk list's length
    assert forecast_metrics(engine, run_id, count_at_risk=True) == (None, len(risky))
    assert forecast_metrics(engine, run_id + 1000) == (None, None)

    with engine.begin() as connection:  # 12348 is no Insider and 12350 has no label
        connection.execute(insert(LabelStage), [_label(run_id, customer, customer != 12348)
                                                for customer in (12347, 12348, 12349, 2**40)])
        publish_run_labels(connection, run_id)
    insiders = insiders_forecasts(engine, run_id).sort_values("customer_id", ignore_index=True)
    pd.testing.assert_frame_equal(
        insiders, expected[expected["customer_id"].isin([12347, 12349, 2**40])].reset_index(
            drop=True), check_exact=True, check_dtype=False)
    assert insiders_forecasts(engine, run_id + 1000).empty
    assert read_forecasts(engine, run_id + 1000).empty
    assert at_risk(engine, run_id + 1000).columns.tolist() == list(FORECAST_COLUMNS)


def _rounded(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(**{name: frame[name].round(places) for name, places in DECIMALS.items()})


def _files(engine: Engine, run_id: int) -> list[str]:
    with engine.connect() as connection:
        return connection.execute(
            select(RunFile.name).where(RunFile.run_id == run_id,
                                       RunFile.name.startswith(FILE_PREFIX))
            .order_by(RunFile.name)).scalars().all()


def test_round_trip_postgresql(clean_db: Engine) -> None:
    _assert_round_trip(clean_db)


def test_round_trip_in_files_of_two(clean_db: Engine, monkeypatch) -> None:
    monkeypatch.setattr("store.forecast_files.FILE_ROWS", 2)  # 5 customers in 3 files
    _assert_round_trip(clean_db)


def test_round_trip_sqlite(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'forecasts.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    try:
        _assert_round_trip(engine)
    finally:
        engine.dispose()


def test_the_rows_with_a_date_or_a_reason_are_notes_beside_the_numbers(clean_db, monkeypatch):
    monkeypatch.setattr("store.forecast_files.FILE_ROWS", 2)  # 5 customers in 3 files
    run_id = _run(clean_db)
    many = pd.concat([_frame(), pd.DataFrame({"customer_id": range(20_000, 20_100),
                                              "p_active": 0.5, "expected_purchases": 1.0,
                                              "expected_spend": 2.0})], ignore_index=True)
    with clean_db.begin() as connection:
        write_forecasts(connection, run_id, many.sample(frac=1, random_state=0))
        rows = connection.execute(select(Forecast.customer_id).where(Forecast.run_id == run_id)
                                  .order_by(Forecast.customer_id)).scalars().all()
    assert rows == []  # no row of the table for a run stored now
    files = _files(clean_db, run_id)
    notes = [name for name in files if name.endswith(NOTES_SUFFIX)]
    # 53 files of numbers, notes only beside those whose customers have a date or a reason
    assert len(files) - len(notes) == 53
    assert notes == [file_name(first) + NOTES_SUFFIX for first in (12347, 12349, 2**40)]
    back = read_forecasts(clean_db, run_id)
    assert len(back) == len(many) and back["customer_id"].is_monotonic_increasing
    # a customer's forecast reads the one file that can hold it, wherever it lies
    for customer in (12347, 12349, 20_000, 20_051, 20_099, 2**40):
        one = read_forecasts(clean_db, run_id, [customer])
        assert one["customer_id"].tolist() == [customer]
        pd.testing.assert_frame_equal(one, back[back["customer_id"] == customer]
                                      .reset_index(drop=True))
    for absent in (1, 12_351, 20_100, 2**41):
        assert read_forecasts(clean_db, run_id, [absent]).empty


def test_a_range_discarded_takes_its_files_and_no_other(clean_db, monkeypatch) -> None:
    monkeypatch.setattr("store.forecast_files.FILE_ROWS", 2)
    run_id = _run(clean_db)
    frame = pd.concat([_frame(), pd.DataFrame({"customer_id": [2**41], "p_active": [0.5]})])
    with clean_db.begin() as connection:
        write_forecasts(connection, run_id, frame)  # files from 12347, 12349, 2**40
        discard_rows(connection, run_id, partition=CustomerRange(12349, 2**40))
    assert read_forecasts(clean_db, run_id)["customer_id"].tolist() == [12347, 12348, 2**40,
                                                                         2**41]
    # the notes of the range went with it (12350 was about to qualify)
    assert about_to_qualify(clean_db, run_id)["customer_id"].tolist() == [2**40]
    assert at_risk(clean_db, run_id)["customer_id"].tolist() == [12347, 12348]
    with clean_db.begin() as connection:
        discard_rows(connection, run_id, partition=CustomerRange(None, 12349))
    assert read_forecasts(clean_db, run_id)["customer_id"].tolist() == [2**40, 2**41]
    with clean_db.begin() as connection:
        discard_rows(connection, run_id)
    assert _files(clean_db, run_id) == [] and read_forecasts(clean_db, run_id).empty


def test_a_run_stored_a_row_per_customer_reads_as_before(clean_db: Engine) -> None:
    run_id = _run(clean_db)
    frame = _frame()
    with clean_db.begin() as connection:  # as runs before the files were stored
        connection.execute(insert(Forecast), [
            {"run_id": run_id, **{k: (None if pd.isna(v) else v) for k, v in row.items()}}
            for row in frame.to_dict("records")])
    back = read_forecasts(clean_db, run_id)
    pd.testing.assert_frame_equal(back, frame.sort_values("customer_id", ignore_index=True),
                                  check_exact=True, check_dtype=False)
    assert read_forecasts(clean_db, run_id, [2**40])["p_active"].item() == 0.123456789012345


def test_files_stored_as_floats_still_read(clean_db: Engine) -> None:
    """Files are stored as whole numbers of their decimals; those stored before held floats."""
    run_id = _run(clean_db)
    numbers = _rounded(_frame()[["customer_id", *DECIMALS]]).sort_values("customer_id",
                                                                         ignore_index=True)
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(numbers, preserve_index=False), sink,
                   compression="zstd")
    with clean_db.begin() as connection:
        store_bytes(connection, run_id, file_name(12347), sink.getvalue().to_pybytes(),
                    compress=False)
    back = read_forecasts(clean_db, run_id)
    pd.testing.assert_frame_equal(back[["customer_id", *DECIMALS]], numbers, check_exact=True)
    new_run = _run(clean_db)
    with clean_db.begin() as connection:
        write_forecasts(connection, new_run, _frame())
        stored = connection.execute(select(RunFile.content).where(
            RunFile.run_id == new_run, RunFile.name.startswith(FILE_PREFIX))).scalars().all()
    schema = pq.read_schema(pa.BufferReader(bytes(stored[0])))
    assert all(pa.types.is_integer(schema.field(name).type) for name in DECIMALS)
    pd.testing.assert_frame_equal(read_forecasts(clean_db, new_run)[["customer_id", *DECIMALS]],
                                  numbers, check_exact=True)


def test_forecasts_go_with_their_run(clean_db: Engine) -> None:
    run_id = _run(clean_db)
    with clean_db.begin() as connection:
        write_forecasts(connection, run_id, _frame())
        connection.execute(text("DELETE FROM runs WHERE id = :id"), {"id": run_id})
    assert read_forecasts(clean_db, run_id).empty


@pytest.fixture
def roles(pg_engine: Engine) -> Iterator[dict[str, str]]:
    database = pg_engine.url.database
    names = {"worker": f"{database}_worker", "dashboard": f"{database}_dashboard"}
    with pg_engine.begin() as connection:
        for name in names.values():
            connection.exec_driver_sql(
                f"DO $$ BEGIN CREATE ROLE {name} LOGIN; "
                "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
            )
        grant_privileges(connection, worker_role=names["worker"],
                         dashboard_role=names["dashboard"])
    yield names


def test_the_worker_writes_forecasts_and_the_dashboard_only_reads_them(
    clean_db: Engine, roles: dict[str, str]
) -> None:
    run_id = _run(clean_db)
    worker = create_engine(clean_db.url.set(username=roles["worker"]))
    dashboard = create_engine(clean_db.url.set(username=roles["dashboard"]))
    try:
        with worker.begin() as connection:
            write_forecasts(connection, run_id, _frame())
        assert len(read_forecasts(dashboard, run_id)) == len(_frame())
        for statement in ("INSERT INTO forecasts (run_id, customer_id) VALUES (:run, 1)",
                          "UPDATE forecasts SET p_active = 0 WHERE run_id = :run",
                          "DELETE FROM forecasts WHERE run_id = :run"):
            with pytest.raises(ProgrammingError), dashboard.begin() as connection:
                connection.execute(text(statement), {"run": run_id})
    finally:
        worker.dispose()
        dashboard.dispose()
