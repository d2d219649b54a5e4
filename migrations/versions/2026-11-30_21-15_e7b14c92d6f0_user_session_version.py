"""Users get a session version: sessions signed in before a logout or a password or role
change carry an older number and no longer load.

Revision ID: e7b14c92d6f0
Revises: c5d2e8f4a913
Create Date: 2026-11-30 21:15:00 UTC
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "e7b14c92d6f0"
down_revision = "c5d2e8f4a913"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("session_version", sa.Integer(), nullable=False, server_default="1")
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_version")
