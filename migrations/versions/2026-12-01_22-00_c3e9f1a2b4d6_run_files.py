"""Files made once when a run is published: the Insiders CSV of the Report page.

A cold download of a run's Insiders CSV read the run's Insiders with their forecasts and
built the text each time (about 120 ms at 100k customers); it is now written with the run
and read in one statement.

Revision ID: c3e9f1a2b4d6
Revises: b8e2d4f61a07
Create Date: 2026-12-01 22:00:00 UTC
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c3e9f1a2b4d6"
down_revision = "b8e2d4f61a07"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_files",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_files_run_id_runs",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "name", name="pk_run_files"),
    )


def downgrade() -> None:
    op.drop_table("run_files")
