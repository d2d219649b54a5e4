"""A page read by keyset from SQL holds the rows the whole cached table gives, and a page is a
slice of the whole table once it is kept."""

from __future__ import annotations

import pandas as pd
import pytest

import migrations
from dashboard import cache, data
from dashboard.api import keyset, paging, tables
from dashboard.app import create_app
from settings import load_settings
from store import run_changes, run_index
from store.db import make_engine, session_scope
from store.tokens import create_token
from tests.dashboard_seed import seed


@pytest.fixture(params=["labels", "indexes"])
def engine(request, tmp_path):
    """Runs read from their labels, or (as the worker publishes them) with their customer
    indexes stored."""
    url = f"sqlite:///{tmp_path / 'insiders.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    seed(engine)
    if request.param == "indexes":
        for run_id in (1, 2, 3):
            run_index.write(engine, run_id)
            run_changes.write(engine, run_id)
    cache.clear()
    yield engine
    paging.settle()
    cache.clear()
    engine.dispose()


def _all_pages(read, rows: int) -> tuple[pd.DataFrame, set[int]]:
    pages, totals, after = [], set(), tables.FIRST
    while True:
        frame, total = read(after, rows + 1)
        totals.add(total)
        pages.append(frame.iloc[:rows])
        if len(frame) <= rows:
            break
        after = int(frame["customer_id"].iloc[rows - 1])
    return pd.concat(pages, ignore_index=True), totals


@pytest.mark.parametrize("kind", [None, "entered", "exited"])
@pytest.mark.parametrize("runs", [(2, 3), (1, 3), (1, 2)])
def test_keyset_pages_of_changes_are_the_whole_table(engine, runs, kind):
    older, newer = (data.get_run(run_id, engine) for run_id in runs)
    whole = tables.changes_table(older, newer, engine, kind, contacts=False)
    assert len(whole)

    def read(after: int, rows: int):
        frame, total = keyset.changes_page(older, newer, after, rows, kind, engine)
        return tables.typed_changes(frame, older, newer), total

    paged, totals = _all_pages(read, rows=4)
    pd.testing.assert_frame_equal(paged, whole)
    assert totals == {len(whole)}
    beyond, total = keyset.changes_page(older, newer, 10**12, 5, kind, engine)
    assert beyond.empty and total == len(whole)


def test_keyset_pages_of_insiders_are_the_whole_table(engine):
    run = data.get_run(3, engine)
    whole = tables.insiders_table(run, engine, contacts=False)

    def read(after: int, rows: int):
        frame, total = keyset.insiders_page(run, after, rows, engine)
        return tables.typed_insiders(frame, run, engine), total

    paged, totals = _all_pages(read, rows=5)
    pd.testing.assert_frame_equal(paged, whole)
    assert totals == {len(whole)}


def test_a_cold_page_builds_the_whole_table_for_the_next(engine):
    older, newer = data.get_run(2, engine), data.get_run(3, engine)
    key = tables.changes_key(older, newer, None, None)
    assert tables.kept(tables.CHANGES, key, engine) is None
    first, total = paging.changes(older, newer, None, None, tables.FIRST, 3, engine)
    paging.settle()
    whole = tables.kept(tables.CHANGES, key, engine)
    assert whole is not None and total == len(whole)
    pd.testing.assert_frame_equal(first, whole.iloc[:3])
    after = int(first["customer_id"].iloc[-1])
    second, _total = paging.changes(older, newer, None, None, after, 3, engine)
    pd.testing.assert_frame_equal(second, whole.iloc[3:6])


def test_a_cold_request_builds_the_table_once_its_answer_is_sent(engine, tmp_path):
    settings = load_settings({"INSIDERS_DATA_DIR": str(tmp_path),
                              "INSIDERS_DATABASE_URL": str(engine.url)})
    client = create_app(settings, engine).server.test_client()
    with session_scope(engine) as session:
        headers = {"Authorization": f"Bearer {create_token(session, 'crm', 'read')[1]}"}
    run = data.get_run(3, engine)
    answer = client.get("/api/v1/runs/current/insiders?limit=5", headers=headers)
    assert answer.status_code == 200 and len(answer.get_json()["items"]) == 5
    paging.settle()
    assert tables.kept(tables.INSIDERS, tables.insiders_key(run), engine) is None
    answer.close()  # what the server does once the answer is sent
    paging.settle()
    assert tables.kept(tables.INSIDERS, tables.insiders_key(run), engine) is not None
