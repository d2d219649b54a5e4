"""Run partitions by ranges of customer id, and a run's finishing jobs: each partition records
its kind (a range of customers to score, or one of the jobs that compute what depends on every
customer: the forecast check, the silhouette, the report) and, for a range, its first customer
id and the first id after it (none at either end).

Revision ID: a4f7c2e9b315
Revises: 07cd8a11c2ab
Create Date: 2026-12-01 18:00:00 UTC
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "a4f7c2e9b315"
down_revision = "07cd8a11c2ab"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("run_partitions") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16), nullable=False,
                                   server_default="score"))
        batch.add_column(sa.Column("lo", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("hi", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run_partitions") as batch:
        batch.drop_column("hi")
        batch.drop_column("lo")
        batch.drop_column("kind")
