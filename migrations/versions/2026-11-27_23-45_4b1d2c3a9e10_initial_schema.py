"""Initial schema: batches, transactions, model versions, runs and their results, users.

Revision ID: 4b1d2c3a9e10
Revises:
Create Date: 2026-11-27 23:45:00 UTC

Tables are declared here, not imported, so this file stays valid when the models change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "4b1d2c3a9e10"
down_revision = None
branch_labels = None
depends_on = None

# transactions and events grow large: 64-bit ids on PostgreSQL, rowid aliases on SQLite
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "transaction_batches",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("filename", sa.String(500), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("profile", sa.String(100), nullable=False),
        sa.Column("loaded_at", TZ, nullable=False),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("n_accepted", sa.Integer(), nullable=False),
        sa.Column("n_rejected", sa.Integer(), nullable=False),
        sa.Column("rejected_by_reason", sa.JSON(), nullable=False),
        sa.Column("min_invoice_date", sa.DateTime(), nullable=True),
        sa.Column("max_invoice_date", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_transaction_batches"),
        sa.UniqueConstraint("content_sha256", name="uq_transaction_batches_content_sha256"),
    )
    op.create_table(
        "transactions",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("invoice_no", sa.String(32), nullable=False),
        sa.Column("stock_code", sa.String(32), nullable=False),
        sa.Column("description", sa.String(300), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("invoice_date", sa.DateTime(), nullable=False),
        sa.Column("unit_price", sa.Float(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("country", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_transactions"),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["transaction_batches.id"],
            name="fk_transactions_batch_id_transaction_batches",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_transactions_batch_id", "transactions", ["batch_id"])
    op.create_index("ix_transactions_invoice_date", "transactions", ["invoice_date"])

    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by_run_id", sa.Integer(), nullable=True),
        sa.Column("parent_version", sa.Integer(), nullable=True),
        sa.Column("fitted_as_of", sa.Date(), nullable=False),
        sa.Column("data_fingerprint", sa.String(64), nullable=False),
        sa.Column("code_version", sa.String(64), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("clusters", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("artifact", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.UniqueConstraint("version", name="uq_model_versions_version"),
    )

    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        # True while queued or running, NULL otherwise: the unique constraint admits one
        sa.Column("active_slot", sa.Boolean(), nullable=True),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(100), nullable=True),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("refit", sa.Boolean(), nullable=False),
        sa.Column("queued_at", TZ, nullable=False),
        sa.Column("started_at", TZ, nullable=True),
        sa.Column("finished_at", TZ, nullable=True),
        sa.Column("heartbeat_at", TZ, nullable=True),
        sa.Column("progress_stage", sa.String(50), nullable=True),
        sa.Column("progress_percent", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("data_fingerprint", sa.String(64), nullable=True),
        sa.Column("code_version", sa.String(64), nullable=True),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("random_state", sa.Integer(), nullable=True),
        sa.Column("task_id", sa.String(100), nullable=True),
        sa.Column("n_customers", sa.Integer(), nullable=True),
        sa.Column("n_insiders", sa.Integer(), nullable=True),
        sa.Column("insiders_share", sa.Float(), nullable=True),
        sa.Column("revenue_share", sa.Float(), nullable=True),
        sa.Column("silhouette", sa.Float(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.UniqueConstraint("active_slot", name="uq_runs_active_slot"),
    )
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_index("ix_runs_succeeded_order", "runs", ["status", "as_of", "id"])

    _create_run_children()

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.String(300), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", TZ, nullable=False),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def _run_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["run_id"], ["runs.id"], name=f"fk_{table}_run_id_runs", ondelete="CASCADE"
    )


def _create_run_children() -> None:
    op.create_table(
        "clusters",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("cluster", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("color", sa.String(16), nullable=False),
        sa.Column("is_insiders", sa.Boolean(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("revenue_share", sa.Float(), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "cluster", name="pk_clusters"),
        _run_fk("clusters"),
    )
    op.create_table(
        "customer_labels",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("cluster", sa.Integer(), nullable=False),
        sa.Column("is_insiders", sa.Boolean(), nullable=False),
        sa.Column("gross_revenue", sa.Float(), nullable=False),
        sa.Column("recency_days", sa.Integer(), nullable=False),
        sa.Column("invoice_quantity", sa.Integer(), nullable=False),
        sa.Column("items_quantity", sa.Integer(), nullable=False),
        sa.Column("products_quantity", sa.Integer(), nullable=False),
        sa.Column("avg_ticket", sa.Float(), nullable=False),
        sa.Column("embedding_x", sa.Float(), nullable=False),
        sa.Column("embedding_y", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "customer_id", name="pk_customer_labels"),
        _run_fk("customer_labels"),
    )
    op.create_index(
        "ix_customer_labels_customer_run", "customer_labels", ["customer_id", "run_id"]
    )
    op.create_index(
        "ix_customer_labels_run_insiders", "customer_labels", ["run_id", "is_insiders"]
    )
    op.create_table(
        "membership_events",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("previous_run_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("cause", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_membership_events"),
        _run_fk("membership_events"),
    )
    op.create_index("ix_membership_events_run_kind", "membership_events", ["run_id", "kind"])
    op.create_index(
        "ix_membership_events_customer", "membership_events", ["customer_id", "run_id"]
    )


def downgrade() -> None:
    for table in (
        "audit_log",
        "users",
        "membership_events",
        "customer_labels",
        "clusters",
        "runs",
        "model_versions",
        "transactions",
        "transaction_batches",
    ):
        op.drop_table(table)
