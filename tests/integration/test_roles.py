"""Least privilege on PostgreSQL: the dashboard's role queues runs, writes accounts and the
audit log, and cannot touch labels, a run's results or model artifacts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import ProgrammingError

from store.db import session_scope
from store.queue import request_run
from store.roles import grant_privileges
from store.users import record

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def roles(pg_engine: Engine) -> Iterator[dict[str, str]]:
    """A worker and a dashboard login role named after the test database."""
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


def _as(pg_engine: Engine, role: str) -> Engine:
    return create_engine(pg_engine.url.set(username=role))


@pytest.fixture
def seeded(clean_db: Engine) -> dict[str, int]:
    """A succeeded run with one label, one model version and a queued run."""
    now = datetime.now(UTC)
    with clean_db.begin() as connection:
        done = connection.execute(text(
            "INSERT INTO runs (status, trigger, queued_at, refit, progress_percent, parameters, "
            "metrics, report, n_insiders, as_of) VALUES ('succeeded', 'cli', :now, false, 100, "
            "'{}', '{}', '{}', 3, '2011-12-09') RETURNING id"
        ), {"now": now}).scalar_one()
        connection.execute(text(
            "INSERT INTO label_spans (customer_id, first_run, cluster, is_insiders, "
            "gross_revenue, last_purchase, invoice_quantity, items_quantity, "
            "products_quantity, avg_ticket) "
            "VALUES (1, :run, 0, true, 10, '2011-12-08', 1, 1, 1, 10)"), {"run": done})
        connection.execute(text(
            "INSERT INTO model_versions (version, created_at, fitted_as_of, data_fingerprint, "
            "code_version, parameters, thresholds, clusters, metrics, artifact) VALUES "
            "(1, :now, '2011-12-09', 'x', 'x', '{}', '{}', '[]', '{}', 'safe')"), {"now": now})
    return {"succeeded": done}


DENIED = [
    "UPDATE label_spans SET is_insiders = false",
    "DELETE FROM label_spans",
    "INSERT INTO label_stage (run_id, customer_id) VALUES (1, 2)",
    "UPDATE runs SET n_insiders = 0",
    "UPDATE model_versions SET artifact = 'evil'",
    "DELETE FROM model_versions",
    "DELETE FROM transactions",
    "UPDATE clusters SET name = 'x'",
    "DELETE FROM membership_events",
]


@pytest.mark.parametrize("statement", DENIED)
def test_the_dashboard_role_cannot_change_results(
    pg_engine: Engine, roles: dict[str, str], seeded: dict[str, int], statement: str
) -> None:
    engine = _as(pg_engine, roles["dashboard"])
    try:
        with pytest.raises(ProgrammingError, match="permission denied"), engine.begin() as c:
            c.exec_driver_sql(statement)
    finally:
        engine.dispose()


def test_the_dashboard_role_cannot_finish_a_run_it_did_not_queue(
    pg_engine: Engine, roles: dict[str, str], seeded: dict[str, int]
) -> None:
    engine = _as(pg_engine, roles["dashboard"])
    try:
        with engine.begin() as connection:
            changed = connection.exec_driver_sql(
                "UPDATE runs SET status = 'failed', error = 'x' WHERE status = 'succeeded'"
            ).rowcount
        assert changed == 0
    finally:
        engine.dispose()
    with pg_engine.connect() as connection:
        status = connection.execute(text("SELECT status FROM runs WHERE id = :id"),
                                    {"id": seeded["succeeded"]}).scalar_one()
    assert status == "succeeded"


def test_the_dashboard_role_queues_runs_and_writes_the_audit_log(
    pg_engine: Engine, roles: dict[str, str], seeded: dict[str, int], service_settings
) -> None:
    engine = _as(pg_engine, roles["dashboard"])
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM customer_labels")).scalar() == 1
        sent: list[int] = []
        run, created = request_run(engine, trigger="manual", requested_by="ada",
                                   enqueue=sent.append)
        assert created and sent == [run.id]
        with session_scope(engine) as session:
            record(session, "ada", "run_requested", {"run_id": run.id})
    finally:
        engine.dispose()


def test_the_worker_role_writes_labels(
    pg_engine: Engine, roles: dict[str, str], seeded: dict[str, int]
) -> None:
    engine = _as(pg_engine, roles["worker"])
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("UPDATE label_spans SET cluster = 1")
            connection.exec_driver_sql("DELETE FROM label_stage")
            connection.exec_driver_sql("UPDATE runs SET n_insiders = 4")
            assert connection.exec_driver_sql(
                "SELECT cluster, recency_days FROM customer_labels").all() == [(1, 1)]
    finally:
        engine.dispose()
