"""reschedule: a booking's moves (count, when, the times before the last one) and the booking
version each calendar event was last written at

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("bookings", sa.Column("reschedule_count", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("bookings", sa.Column("rescheduled_at", hub.db.types.UTCDateTime(timezone=True), nullable=True))
    op.add_column("bookings", sa.Column("previous_start_at", hub.db.types.UTCDateTime(timezone=True), nullable=True))
    op.add_column("bookings", sa.Column("previous_end_at", hub.db.types.UTCDateTime(timezone=True), nullable=True))
    # The booking's ``sequence`` (its version: +1 on every reschedule and on the cancel) that the
    # calendar event was last written with; a stale write job compares against it.
    op.add_column("booking_events", sa.Column("sequence", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("booking_events") as batch_op:
        batch_op.drop_column("sequence")
    with op.batch_alter_table("bookings") as batch_op:
        for column in ("previous_end_at", "previous_start_at", "rescheduled_at", "reschedule_count"):
            batch_op.drop_column(column)
