"""A partial index on the forecasts of Insiders at risk, by run.

The Overview counts a run's Insiders at risk and the At risk page lists them; a run forecasts
every customer and about 1 in 1,000 is at risk, so without it both read all of the run's
forecasts. Only the rows at risk are in the index, so writing a run's forecasts barely changes.

Revision ID: b8e2d4f61a07
Revises: a4f7c2e9b315
Create Date: 2026-12-01 20:00:00 UTC
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "b8e2d4f61a07"
down_revision = "a4f7c2e9b315"
branch_labels = None
depends_on = None

_WHERE = sa.text("at_risk_reason IS NOT NULL")


def upgrade() -> None:
    op.create_index("ix_forecasts_at_risk", "forecasts", ["run_id"],
                    postgresql_where=_WHERE, sqlite_where=_WHERE)


def downgrade() -> None:
    op.drop_index("ix_forecasts_at_risk", table_name="forecasts")
