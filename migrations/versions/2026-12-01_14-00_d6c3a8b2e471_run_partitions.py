"""Run partitions: a scoring run split by customer id into partitions that any worker process
takes; one row per partition with its status, attempts, worker, heartbeat and, once done, how
many customers it labelled and its counts for the run's metrics.

Revision ID: d6c3a8b2e471
Revises: b8e2d4f61a97
Create Date: 2026-12-01 14:00:00 UTC
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "d6c3a8b2e471"
down_revision = "b8e2d4f61a97"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_partitions",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("n_partitions", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("n_customers", sa.Integer(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE",
                                name="fk_run_partitions_run_id_runs"),
        sa.PrimaryKeyConstraint("run_id", "partition", name="pk_run_partitions"),
    )


def downgrade() -> None:
    op.drop_table("run_partitions")
