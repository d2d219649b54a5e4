"""Least privilege on PostgreSQL: what the worker's and the dashboard's roles may do.

The owner role (the one ``insiders db upgrade`` runs as) owns every table. The worker role
reads and writes the run tables. The dashboard role reads everything it shows and writes
only what a dashboard writes: a queued run (or its failure to enqueue), accounts and the
audit log. Row-level security on ``runs`` keeps the dashboard's updates to queued runs, and
its column grants keep it away from a run's results; it has no write on labels, clusters,
events, forecasts, transactions or model artifacts (the worker writes forecasts with the run).
"""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.sql import quoted_name

from pipeline.errors import InsidersError
from store.schema import Base, ViewBase

DASHBOARD_RUN_COLUMNS = ("status", "active_slot", "finished_at", "error")
DASHBOARD_WRITES = {"users": "INSERT, UPDATE", "audit_log": "INSERT",
                    # the Admin page adds and removes webhooks and replays deliveries
                    "webhook_subscriptions": "INSERT, UPDATE, DELETE",
                    "webhook_deliveries": "INSERT, UPDATE, DELETE", "webhook_attempts": "DELETE"}


def grant_privileges(connection: Connection, *, worker_role: str, dashboard_role: str) -> None:
    """Grant ``worker_role`` and ``dashboard_role`` their privileges on this database's
    tables (run as the owner, after every upgrade: it is idempotent)."""
    if connection.dialect.name != "postgresql":
        return
    worker, dashboard = _quoted(connection, worker_role), _quoted(connection, dashboard_role)
    tables = ", ".join(sorted(Base.metadata.tables))
    views = ", ".join(sorted(ViewBase.metadata.tables))
    for statement in (
        f"GRANT USAGE ON SCHEMA public TO {worker}, {dashboard}",
        f"REVOKE ALL ON {tables}, {views} FROM {worker}, {dashboard}",
        f"GRANT SELECT ON {views} TO {worker}, {dashboard}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO {worker}",
        f"GRANT TRUNCATE ON label_stage TO {worker}",  # a publication empties the stage
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {worker}, {dashboard}",
        f"GRANT SELECT ON {tables} TO {dashboard}",
        f"GRANT INSERT ON runs TO {dashboard}",
        f"GRANT UPDATE ({', '.join(DASHBOARD_RUN_COLUMNS)}) ON runs TO {dashboard}",
        *(f"GRANT {verbs} ON {table} TO {dashboard}" for table, verbs in DASHBOARD_WRITES.items()),
        "ALTER TABLE runs ENABLE ROW LEVEL SECURITY",
        "DROP POLICY IF EXISTS worker_runs ON runs",
        f"CREATE POLICY worker_runs ON runs TO {worker} USING (true) WITH CHECK (true)",
        "DROP POLICY IF EXISTS dashboard_reads_runs ON runs",
        f"CREATE POLICY dashboard_reads_runs ON runs FOR SELECT TO {dashboard} USING (true)",
        "DROP POLICY IF EXISTS dashboard_queues_runs ON runs",
        f"CREATE POLICY dashboard_queues_runs ON runs FOR INSERT TO {dashboard} "
        "WITH CHECK (status = 'queued')",
        "DROP POLICY IF EXISTS dashboard_fails_queued_runs ON runs",
        f"CREATE POLICY dashboard_fails_queued_runs ON runs FOR UPDATE TO {dashboard} "
        "USING (status = 'queued') WITH CHECK (status IN ('queued', 'failed'))",
    ):
        connection.exec_driver_sql(statement)


def _quoted(connection: Connection, role: str) -> str:
    exists = connection.exec_driver_sql(
        "SELECT 1 FROM pg_roles WHERE rolname = %(role)s", {"role": role}
    ).scalar()
    if not exists:
        raise InsidersError(f"PostgreSQL role {role!r} does not exist: create it first (README)")
    return connection.dialect.identifier_preparer.quote(quoted_name(role, quote=True))
