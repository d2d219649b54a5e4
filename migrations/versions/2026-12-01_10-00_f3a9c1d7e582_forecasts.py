"""Forecasts: per run and customer, the probability of still being active, the expected
purchases and spend over the forecast horizon, and the at-risk and about-to-qualify dates with
their reasons. The forward model's fitted parameters are kept with the model version (in its
``parameters`` JSON, key ``forecast``), so they need no column of their own.

Revision ID: f3a9c1d7e582
Revises: e7b14c92d6f0
Create Date: 2026-12-01 10:00:00 UTC
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "f3a9c1d7e582"
down_revision = "e7b14c92d6f0"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forecasts",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("p_active", sa.Float(), nullable=True),
        sa.Column("expected_purchases", sa.Float(), nullable=True),
        sa.Column("expected_spend", sa.Float(), nullable=True),
        sa.Column("at_risk_on", sa.Date(), nullable=True),
        sa.Column("at_risk_reason", sa.Text(), nullable=True),
        sa.Column("qualifies_on", sa.Date(), nullable=True),
        sa.Column("qualify_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE",
                                name="fk_forecasts_run_id_runs"),
        sa.PrimaryKeyConstraint("run_id", "customer_id", name="pk_forecasts"),
    )


def downgrade() -> None:
    op.drop_table("forecasts")
