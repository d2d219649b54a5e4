"""Ingest by invoice: look stored invoices up by number; batches count rows already loaded.

Revision ID: 7c4e9a2f1b35
Revises: 4b1d2c3a9e10
Create Date: 2026-11-30 20:30:00 UTC
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "7c4e9a2f1b35"
down_revision = "4b1d2c3a9e10"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_transactions_invoice_no", "transactions", ["invoice_no"])
    with op.batch_alter_table("transaction_batches") as batch:
        batch.add_column(
            sa.Column("n_already_loaded", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("transaction_batches") as batch:
        batch.drop_column("n_already_loaded")
    op.drop_index("ix_transactions_invoice_no", table_name="transactions")
