"""Labels stored as changes: every published run's full table comes back through the view as it
was staged, while a run opens spans only for the customers whose labels changed (a day older
without a purchase is no change); the migration turns labels stored a row per customer and run
into the same spans, keeps each run's map, and its downgrade gives the rows back. On PostgreSQL
and SQLite."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, func, insert, select, text

import migrations
from store import run_index
from store.labels import LabelSpan, LabelStage
from store.results import LABEL_COLUMNS, labels_table, load_labels, publish_run_labels
from store.schema import Run

pytestmark = pytest.mark.integration

BEFORE = "c3e9f1a2b4d6"  # the revision that stored a row per customer and run
AS_OF = {1: dt.date(2011, 9, 30), 2: dt.date(2011, 10, 31), 3: dt.date(2011, 11, 30),
         4: dt.date(2011, 12, 1), 5: dt.date(2011, 12, 2)}
FAILED = 2


def _labels(run_id: int) -> pd.DataFrame:
    """Run ``run_id``'s labels: 8 customers; 101 leaves after run 3 and comes back in run 5,
    102 buys before run 4, 103 changes cluster in run 5, the others only grow a day older."""
    ids = np.arange(100, 108)
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({
        "customer_id": ids, "cluster": ids % 3, "is_insiders": ids % 3 == 0,
        "gross_revenue": rng.gamma(2.0, 100.0, 8).round(6) + 0.1,
        "last": [dt.date(2011, 9, 1) + dt.timedelta(days=int(i) - 100) for i in ids],
        "invoice_quantity": ids - 95, "items_quantity": 3 * ids, "products_quantity": ids - 90,
        "avg_ticket": ids / 7, "embedding_x": rng.normal(size=8) + run_id,
        "embedding_y": rng.normal(size=8),
    })
    if run_id == 4:
        frame = frame[frame["customer_id"] != 101].reset_index(drop=True)
    if run_id >= 4:  # 102 bought on 2011-11-15
        where = frame["customer_id"] == 102
        frame.loc[where, "last"] = dt.date(2011, 11, 15)
        frame.loc[where, ["gross_revenue", "invoice_quantity"]] = [999.25, 20]
    if run_id == 5:
        frame.loc[frame["customer_id"] == 103, ["cluster", "is_insiders"]] = [2, True]
    frame["recency_days"] = [(AS_OF[run_id] - last).days for last in frame.pop("last")]
    return frame.set_index("customer_id")


def _published(run_id: int) -> pd.DataFrame:
    return labels_table(run_id, _labels(run_id)).drop(columns=["run_id", "embedding_x",
                                                               "embedding_y"])


@pytest.fixture
def url(empty_url):
    return empty_url


def _add_runs(connection) -> None:
    now = dt.datetime(2012, 1, 1, tzinfo=dt.UTC)
    for run_id, as_of in AS_OF.items():
        connection.execute(insert(Run.__table__).values(
            id=run_id, status="failed" if run_id == FAILED else "succeeded", trigger="cli",
            as_of=as_of, refit=False, queued_at=now, progress_percent=100.0, parameters={},
            metrics={}, report={}, n_customers=len(_labels(run_id))))


def _view(engine, run_id: int) -> pd.DataFrame:
    frame = load_labels(engine, run_id).reset_index()
    return frame.loc[:, [c for c in LABEL_COLUMNS[1:-2]]]


def _assert_every_run(engine) -> None:
    for run_id in AS_OF:
        if run_id == FAILED:
            assert load_labels(engine, run_id).empty
            continue
        pd.testing.assert_frame_equal(_view(engine, run_id), _published(run_id),
                                      check_dtype=False, obj=f"run {run_id}")


def test_runs_published_as_spans_read_back_whole(url) -> None:
    migrations.upgrade(url)
    engine = create_engine(url)
    try:
        opened = {}
        with engine.begin() as connection:
            _add_runs(connection)
            for run_id in AS_OF:
                connection.execute(insert(LabelStage.__table__),
                                   labels_table(run_id, _labels(run_id)).to_dict("records"))
                if run_id == FAILED:  # a failed run's staged rows are discarded, not published
                    connection.execute(text("DELETE FROM label_stage"))
                    continue
                opened[run_id] = publish_run_labels(connection, run_id)
        _assert_every_run(engine)
        # the first run opens a span per customer; a day older without a purchase is no change
        assert opened[1] == {"closed": 0, "opened": 8}
        assert opened[3] == {"closed": 0, "opened": 0}
        assert opened[4] == {"closed": 2, "opened": 1}  # 101 left, 102 bought
        assert opened[5] == {"closed": 1, "opened": 2}  # 101 back, 103 moved
        with engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(LabelSpan)).scalar() == 11
            assert connection.execute(select(func.count()).select_from(LabelStage)).scalar() == 0
        # each run's map keeps the coordinates the spans do not
        points = run_index.read_points(engine, 5, 8, run_index.MAX_MAP_POINTS)
        assert points["embedding_x"].tolist() == _labels(5)["embedding_x"].tolist()
    finally:
        engine.dispose()


def test_the_migration_turns_stored_rows_into_the_same_spans_and_back(url) -> None:
    migrations.upgrade(url, BEFORE)
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            _add_runs(connection)
            for run_id in AS_OF:
                if run_id != FAILED:
                    connection.execute(
                        text("INSERT INTO customer_labels (" + ", ".join(LABEL_COLUMNS)
                             + ") VALUES (" + ", ".join(f":{c}" for c in LABEL_COLUMNS) + ")"),
                        labels_table(run_id, _labels(run_id)).to_dict("records"))
        migrations.upgrade(url)
        _assert_every_run(engine)
        with engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(LabelSpan)).scalar() == 11
        for run_id in AS_OF:  # the runs published without a map have one now
            points = run_index.read_points(engine, run_id, len(_labels(run_id)),
                                           run_index.MAX_MAP_POINTS)
            if run_id == FAILED:
                assert points is None
                continue
            pd.testing.assert_series_equal(
                points["embedding_y"], _labels(run_id)["embedding_y"].reset_index(drop=True),
                check_names=False)
        migrations.downgrade(url, BEFORE)
        with engine.connect() as connection:
            for run_id in AS_OF:
                rows = pd.read_sql_query(
                    text("SELECT * FROM customer_labels WHERE run_id = :r ORDER BY customer_id"),
                    connection, params={"r": run_id})
                expected = _published(run_id) if run_id != FAILED else _published(1).iloc[:0]
                pd.testing.assert_frame_equal(
                    rows.drop(columns=["run_id", "embedding_x", "embedding_y"]), expected,
                    check_dtype=False, obj=f"run {run_id}")
    finally:
        engine.dispose()
