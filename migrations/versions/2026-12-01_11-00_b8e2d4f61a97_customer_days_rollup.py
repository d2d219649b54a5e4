"""Per-customer daily rollup: customer_days (one customer's cleaned lines of one invoice day,
summed), rollup_batches (the batches it holds, with what guest numbering needs of each) and
rollup_state (the cleaning profile it was built with). Ingest and batch removal keep it in step;
a database with transactions from before this revision gets it with ``insiders rollup rebuild``
(or at its next ingest).

Revision ID: b8e2d4f61a97
Revises: f3a9c1d7e582
Create Date: 2026-12-01 11:00:00 UTC
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "b8e2d4f61a97"
down_revision = "f3a9c1d7e582"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_days",
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("purchase_lines", sa.Integer(), nullable=False),
        sa.Column("invoices", sa.Integer(), nullable=False),
        sa.Column("items", sa.BigInteger(), nullable=False),
        sa.Column("revenue_micro", sa.BigInteger(), nullable=False),
        sa.Column("return_invoices", sa.Integer(), nullable=False),
        sa.Column("returned_items", sa.BigInteger(), nullable=False),
        sa.Column("returns_micro", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "day", name="pk_customer_days"),
    )
    op.create_table(
        "rollup_batches",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("guest_invoices", sa.Integer(), nullable=False),
        sa.Column("max_customer_id", sa.BigInteger(), nullable=True),
        sa.Column("min_id_from_start", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["transaction_batches.id"], ondelete="CASCADE",
                                name="fk_rollup_batches_batch_id_transaction_batches"),
        sa.PrimaryKeyConstraint("batch_id", name="pk_rollup_batches"),
    )
    op.create_table(
        "rollup_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile", sa.String(length=500), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=True),
        sa.Column("guest_start", sa.BigInteger(), nullable=True),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rollup_state"),
    )


def downgrade() -> None:
    op.drop_table("rollup_state")
    op.drop_table("rollup_batches")
    op.drop_table("customer_days")
