"""The dashboard's data layer against a real (SQLite) database migrated to head."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import update

import migrations
from dashboard import data, data_customer
from store.db import make_engine
from store.schema import Run
from tests.dashboard_seed import N_CUSTOMERS, THRESHOLDS, seed


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('dash') / 'insiders.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    seed(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def empty_engine(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_current_run_is_latest_succeeded_not_the_failed_one(engine):
    assert data.current_run(engine)["id"] == 3
    assert data.latest_run(engine)["status"] == "failed"
    assert data.previous_run(3, engine)["id"] == 2
    assert data.previous_run(1, engine) is None
    assert [r["id"] for r in data.succeeded_runs(engine)] == [1, 2, 3]
    assert data.active_run(engine) is None


def test_empty_database_has_no_current_run(empty_engine):
    assert data.current_run(empty_engine) is None
    assert data.latest_run(empty_engine) is None
    assert data.succeeded_runs(empty_engine) == []


def test_insiders_summary_matches_run_metrics(engine):
    run = data.current_run(engine)
    summary = data.insiders_summary(3, engine)
    assert summary["customers"] == N_CUSTOMERS
    assert summary["insiders"] == run["n_insiders"]
    assert summary["revenue_share"] == pytest.approx(run["revenue_share"])
    assert summary["mean_revenue"] > summary["mean_revenue_all"]


def test_embedding_sample_keeps_insiders_up_to_half_the_cap(engine):
    full = data.embedding_sample(3, N_CUSTOMERS, engine=engine)
    assert len(full) == N_CUSTOMERS
    insiders = int(full["is_insiders"].sum())
    roomy = data.embedding_sample(3, N_CUSTOMERS, max_points=2 * insiders, engine=engine)
    assert len(roomy) < N_CUSTOMERS and roomy["is_insiders"].sum() == insiders
    tight = data.embedding_sample(3, N_CUSTOMERS, max_points=insiders, engine=engine)
    assert 0 < tight["is_insiders"].sum() <= insiders // 2 + 1
    assert len(tight) < len(roomy)


def test_changes_between_consecutive_runs_carry_the_reason_in_words(engine):
    moves = data.changes(2, 3, engine)
    assert set(moves["kind"]) <= {"entered", "exited"}
    assert len(moves) > 0
    assert moves["cause"].eq("purchase activity").all()
    assert moves["cause_help"].str.len().gt(10).all()
    assert moves["reason"].str.contains("in total, ").all()
    for reason in moves["reason"]:
        assert reason.endswith(".") and "£" in reason, reason
        assert not re.search(r"[a-z]+_[a-z]+|[<>]=?", reason), reason
    entered = moves[moves["kind"] == "entered"].iloc[0]
    assert entered["change_gross_revenue"] == pytest.approx(
        entered["after_gross_revenue"] - entered["before_gross_revenue"])


def test_changes_across_several_runs_agree_with_the_labels(engine):
    moves = data.changes(1, 3, engine)
    history = {cid: data_customer.customer_history(cid, engine) for cid in moves["customer_id"]}
    for _, move in moves.iterrows():
        flags = history[move["customer_id"]].set_index("run_id")["is_insiders"]
        assert bool(flags.get(3, False)) == (move["kind"] == "entered")
        assert bool(flags.get(1, False)) == (move["kind"] == "exited")


def test_transitions_count_every_customer_of_the_later_run(engine):
    frame = data.transitions(2, 3, engine)
    assert frame["customers"].sum() == N_CUSTOMERS


def test_customer_history_and_events(engine):
    moves = data.changes(2, 3, engine)
    customer = int(moves["customer_id"].iloc[0])
    history = data_customer.customer_history(customer, engine)
    assert list(history["run_id"]) == [1, 2, 3]
    assert history["cluster_name"].notna().all()
    events = data_customer.customer_events(customer, engine)
    assert any(e["run_id"] == 3 for e in events)
    assert data_customer.customer_history(999_999, engine).empty


def test_thresholds_from_report_or_model_version(engine):
    run = data.current_run(engine)
    thresholds = data_customer.run_thresholds(run, engine)
    assert thresholds == THRESHOLDS
    assert data_customer.run_thresholds({"id": 999, "model_version": None}, engine) == {}


def test_thresholds_of_every_run_in_one_read_equal_them_one_by_one(empty_engine):
    seed(empty_engine)
    with empty_engine.begin() as conn:  # run 2 without them in its report: its model version's
        conn.execute(update(Run).where(Run.id == 2).values(report={}))
    versions = {1: 1, 2: 1, 3: 2, 4: None}
    one_by_one = {run_id: data_customer.run_thresholds(
        {"id": run_id, "model_version": version}, empty_engine)
        for run_id, version in versions.items()}
    assert one_by_one[2] == THRESHOLDS and one_by_one[4] == {}
    assert data_customer.thresholds_by_run([1, 2, 3, 4, 999], empty_engine) == one_by_one
    assert data_customer.thresholds_by_run([], empty_engine) == {}


def test_only_succeeded_run_ids_from_the_browser_pass(engine):
    assert data.succeeded_id(3, engine) == 3
    assert data.succeeded_id("3", engine) == 3
    assert data.succeeded_id(4, engine) is None  # the failed run
    for value in (999, "3 OR 1=1", "x", None, True, 2.5, {"id": 3}):
        assert data.succeeded_id(value, engine) is None


def test_no_cluster_is_called_insiders_and_each_counts_its_members(engine):
    """The seed stores the legacy name "Insiders": it reads "Top spenders"."""
    clusters = data.clusters(3, engine)
    assert "Insiders" not in {c["name"] for c in clusters}
    assert "Top spenders" in {c["name"] for c in clusters}
    assert "#d4a017" not in {c["color"] for c in clusters}
    labels = data.embedding_sample(3, N_CUSTOMERS, engine=engine)
    members = labels[labels["is_insiders"]].groupby("cluster").size()
    assert {c["cluster"]: c["insiders_members"] for c in clusters if c["insiders_members"]} == (
        members.to_dict())
    history = data_customer.customer_history(int(labels["customer_id"].iloc[0]), engine)
    assert "Insiders" not in set(history["cluster_name"])
