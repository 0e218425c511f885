"""trace ids: sync runs, webhook deliveries and attempts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 12:11:21.215509
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = ("sync_runs", "webhook_attempts", "webhook_deliveries")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("trace_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("trace_id")
