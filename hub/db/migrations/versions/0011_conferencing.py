"""conferencing links, attendee responses and changes made in the host's calendar: a booking's
conference and external change, a calendar's conference capability, the times Hub last wrote
into each event, and the booking changes a sync found

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 00:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hub.db.types import JSONType, UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("bookings", sa.Column("conferencing", JSONType, nullable=True))
    op.add_column("bookings", sa.Column("external_change", JSONType, nullable=True))
    op.add_column("calendars", sa.Column("conferencing", JSONType, nullable=True))
    op.add_column("booking_events", sa.Column("written_start_at", UTCDateTime(timezone=True), nullable=True))
    op.add_column("booking_events", sa.Column("written_end_at", UTCDateTime(timezone=True), nullable=True))
    op.add_column("sync_runs", sa.Column("booking_changes", JSONType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch_op:
        batch_op.drop_column("booking_changes")
    with op.batch_alter_table("booking_events") as batch_op:
        batch_op.drop_column("written_end_at")
        batch_op.drop_column("written_start_at")
    with op.batch_alter_table("calendars") as batch_op:
        batch_op.drop_column("conferencing")
    with op.batch_alter_table("bookings") as batch_op:
        batch_op.drop_column("external_change")
        batch_op.drop_column("conferencing")
