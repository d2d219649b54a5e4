"""Changes by period: between two dates far apart, every entry and exit of every run in
between, each with its run, date, reason and figures (SQLite migrated to head)."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest
from sqlalchemy import select

import migrations
from dashboard import data, data_customer, data_period
from dashboard.data_period import (
    event_counts,
    period_changes,
    period_csv,
    period_csv_parts,
    runs_after,
)
from store.db import make_engine
from store.schema import MembershipEvent
from tests.dashboard_seed import AS_OF, seed


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('period') / 'insiders.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    seed(engine)
    yield engine
    engine.dispose()


def _stored(engine, run_ids) -> list[tuple[int, int, str]]:
    ev = MembershipEvent
    with engine.connect() as conn:
        rows = conn.execute(select(ev.run_id, ev.customer_id, ev.kind)
                            .where(ev.run_id.in_(run_ids))).all()
    return sorted(tuple(r) for r in rows)


def test_runs_after_one_up_to_the_other(engine):
    assert [r["id"] for r in runs_after(1, 3, engine)] == [2, 3]
    assert [r["as_of"] for r in runs_after(1, 3, engine)] == AS_OF[1:]
    assert runs_after(3, 1, engine) == []


def test_consecutive_runs_give_the_moves(engine):
    period = period_changes(2, 3, engine=engine)
    moves = data.changes(2, 3, engine)
    assert sorted(zip(period["customer_id"], period["kind"], strict=True)) == sorted(
        zip(moves["customer_id"], moves["kind"], strict=True))
    assert set(period["event_run"]) == {3} and set(period["event_as_of"]) == {AS_OF[2]}


def test_far_apart_dates_list_every_event_in_between(engine):
    period = period_changes(1, 3, engine=engine)
    stored = _stored(engine, [2, 3])
    listed = sorted(zip(period["event_run"], period["customer_id"], period["kind"],
                        strict=True))
    assert listed == stored and len(stored) > len(data.changes(1, 3, engine))
    # some customer moved twice: both moves are shown, in date order
    twice = period.groupby("customer_id")["event_run"].nunique()
    assert (twice > 1).any()
    assert list(period["event_as_of"]) == sorted(period["event_as_of"])
    assert {r: d for r, d in zip(period["event_run"], period["event_as_of"], strict=True)} == {
        2: AS_OF[1], 3: AS_OF[2]}
    # every row's figures: its own run after, the run before it before, and their difference
    for _, row in period.iterrows():
        history = data_customer.customer_history(int(row["customer_id"]), engine).set_index(
            "run_id")
        run = int(row["event_run"])
        assert row["after_gross_revenue"] == pytest.approx(history.at[run, "gross_revenue"])
        assert row["before_gross_revenue"] == pytest.approx(
            history.at[run - 1, "gross_revenue"])
        assert row["change_invoice_quantity"] == (history.at[run, "invoice_quantity"]
                                                  - history.at[run - 1, "invoice_quantity"])
        assert bool(history.at[run, "is_insiders"]) == (row["kind"] == "entered")
    for reason in period["reason"]:
        assert reason.startswith(("Entered", "Left")) and reason.endswith("."), reason
        assert "£" in reason and not re.search(r"[a-z]+_[a-z]+|[<>]=?", reason), reason
    assert set(period["cause"]) <= {"purchase activity", "inactivity", "new customer",
                                    "model update"}


def test_the_period_csv_has_each_row_s_run_and_numbers(engine):
    name, text = period_csv(1, 3, engine)
    assert name == f"insiders-changes-run-1-{AS_OF[0]}-to-run-3-{AS_OF[2]}.csv"
    table = pd.read_csv(io.StringIO(text))
    assert len(table) == len(_stored(engine, [2, 3]))
    assert set(table["run_from"]) == {1} and set(table["run_to"]) == {3}
    assert sorted(zip(table["event_run_id"], table["customer_id"], table["change"],
                      strict=True)) == _stored(engine, [2, 3])
    assert set(table["event_as_of"]) == {str(AS_OF[1]), str(AS_OF[2])}
    for column in ("event_run_id", "customer_id", "before_gross_revenue",
                   "change_gross_revenue", "change_recency_days"):
        assert pd.api.types.is_numeric_dtype(table[column]), column
    assert not table["reason"].str.contains(">=").any()


def test_the_period_csv_comes_in_parts_in_order(engine, monkeypatch):
    """Sent as it is made: the header once, then each run's rows a few at a time, by date,
    change and customer; the same text as made whole."""
    whole = period_csv(1, 3, engine)[1]
    monkeypatch.setattr(data_period, "CSV_PART_ROWS", 3)
    _name, parts = period_csv_parts(1, 3, engine)
    parts = list(parts)
    assert len(parts) > 2 and parts[0].startswith("run_from,")
    assert not any(part.startswith("run_from,") for part in parts[1:])
    assert "".join(parts) == whole
    table = pd.read_csv(io.StringIO(whole))
    order = list(zip(table["event_as_of"], table["event_run_id"], table["change"],
                     table["customer_id"], strict=True))
    assert order == sorted(order) and set(table["event_run_id"]) == {2, 3}


def test_counts_of_every_date_and_the_latest_dates_only(engine):
    counts = event_counts(1, 3, engine)
    assert [(c["id"], c["as_of"]) for c in counts] == [(2, AS_OF[1]), (3, AS_OF[2])]
    stored = _stored(engine, [2, 3])
    for c in counts:
        for kind in ("entered", "exited"):
            assert c[kind] == sum(1 for r, _, k in stored if r == c["id"] and k == kind)
    latest = period_changes(1, 3, 1, engine=engine)
    assert sorted(zip(latest["event_run"], latest["customer_id"], latest["kind"],
                      strict=True)) == _stored(engine, [3])
    # between consecutive runs there is nothing to leave out
    assert len(period_changes(2, 3, 1, engine=engine)) == len(data.changes(2, 3, engine))
