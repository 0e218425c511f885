"""external event items: the provider object a busy block comes from (one CalDAV resource holds
a whole recurring series), so a changed object replaces all of its blocks

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 00:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("external_events", sa.Column("item", sa.String(length=1024), nullable=True))
    op.create_index("ix_external_events_calendar_item", "external_events", ["calendar_id", "item"])


def downgrade() -> None:
    op.drop_index("ix_external_events_calendar_item", table_name="external_events")
    with op.batch_alter_table("external_events") as batch_op:
        batch_op.drop_column("item")
