"""Transactions keyed by (batch, line) for bulk ingest: the surrogate id, its sequence and the
foreign key to the batches go, and so does the index on invoice dates.

Each of them cost the bulk load a step per row (issue 11, at 50M rows per file): the id a
sequence call and a second index, the foreign key a look-up of the batch per row (half of COPY's
time), the invoice-date index an insertion; the latest invoice date is read from the batches,
which record their own. A batch's rows are deleted with it explicitly (``store.batches``), and
(batch, line) is unique: a line's position in its file.

Revision ID: 07cd8a11c2ab
Revises: d6c3a8b2e471
Create Date: 2026-12-01 16:00:00 UTC
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "07cd8a11c2ab"
down_revision = "d6c3a8b2e471"
branch_labels = None
depends_on = None

_FK = "fk_transactions_batch_id_transaction_batches"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(_FK, "transactions", type_="foreignkey")
        op.drop_index("ix_transactions_invoice_date", table_name="transactions")
        op.drop_index("ix_transactions_batch_id", table_name="transactions")
        op.drop_constraint("pk_transactions", "transactions", type_="primary")
        op.drop_column("transactions", "id")
        op.create_primary_key("pk_transactions", "transactions", ["batch_id", "line_no"])
        return
    with op.batch_alter_table("transactions", recreate="always") as batch:
        batch.drop_constraint(_FK, type_="foreignkey")
        batch.drop_index("ix_transactions_invoice_date")
        batch.drop_index("ix_transactions_batch_id")
        batch.drop_column("id")
        batch.create_primary_key("pk_transactions", ["batch_id", "line_no"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("pk_transactions", "transactions", type_="primary")
        op.execute("ALTER TABLE transactions ADD COLUMN id BIGSERIAL")
        op.create_primary_key("pk_transactions", "transactions", ["id"])
        op.create_index("ix_transactions_batch_id", "transactions", ["batch_id"])
        op.create_index("ix_transactions_invoice_date", "transactions", ["invoice_date"])
        op.create_foreign_key(
            _FK, "transactions", "transaction_batches", ["batch_id"], ["id"], ondelete="CASCADE"
        )
        return
    with op.batch_alter_table("transactions", recreate="always") as batch:
        batch.drop_constraint("pk_transactions", type_="primary")
        batch.add_column(sa.Column("id", sa.Integer(), nullable=True))
    op.execute("UPDATE transactions SET id = rowid")
    with op.batch_alter_table("transactions", recreate="always") as batch:
        batch.alter_column("id", existing_type=sa.Integer(), nullable=False)
        batch.create_primary_key("pk_transactions", ["id"])
        batch.create_index("ix_transactions_batch_id", ["batch_id"])
        batch.create_index("ix_transactions_invoice_date", ["invoice_date"])
        batch.create_foreign_key(
            _FK, "transaction_batches", ["batch_id"], ["id"], ondelete="CASCADE"
        )
