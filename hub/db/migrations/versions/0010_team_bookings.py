"""team bookings: one participation row per host of a booking (and of a hold), the round-robin
assignment of a booking, and the no-overlap guarantee moved to the per-host rows

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_NO_OVERLAP = (
    "EXCLUDE USING gist (host_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&) WHERE (status = 'confirmed')"
)


def upgrade() -> None:
    when = hub.db.types.UTCDateTime(timezone=True)
    op.add_column("bookings", sa.Column("assignment", hub.db.types.JSONType, nullable=True))
    op.create_table(
        "booking_hosts",
        sa.Column("booking_id", sa.String(length=40), nullable=False),
        sa.Column("host_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("start_at", when, nullable=False),
        sa.Column("end_at", when, nullable=False),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], name=op.f("fk_booking_hosts_booking_id_bookings")),
        sa.ForeignKeyConstraint(["host_id"], ["users.id"], name=op.f("fk_booking_hosts_host_id_users")),
        sa.PrimaryKeyConstraint("booking_id", "host_id", name=op.f("pk_booking_hosts")),
    )
    # A host's busy time (every booking and availability request) and ``?host_id=`` lists.
    op.create_index("ix_booking_hosts_host_start", "booking_hosts", ["host_id", "start_at"])
    op.create_table(
        "hold_hosts",
        sa.Column("hold_id", sa.String(length=40), nullable=False),
        sa.Column("host_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["hold_id"], ["holds.id"], name=op.f("fk_hold_hosts_hold_id_holds")),
        sa.ForeignKeyConstraint(["host_id"], ["users.id"], name=op.f("fk_hold_hosts_host_id_users")),
        sa.PrimaryKeyConstraint("hold_id", "host_id", name=op.f("pk_hold_hosts")),
    )
    op.create_index("ix_hold_hosts_host", "hold_hosts", ["host_id", "hold_id"])
    # Every existing booking and hold has its one host.
    op.execute(
        "INSERT INTO booking_hosts (booking_id, host_id, position, status, start_at, end_at) "
        "SELECT id, host_id, 0, status, start_at, end_at FROM bookings"
    )
    op.execute("INSERT INTO hold_hosts (hold_id, host_id, position) SELECT id, host_id, 0 FROM holds")
    if op.get_bind().dialect.name == "postgresql":
        # No double booking, per host: a collective booking's hosts each have their row here.
        op.execute("ALTER TABLE booking_hosts ADD CONSTRAINT ex_booking_hosts_no_overlap " + _NO_OVERLAP)
        op.execute("ALTER TABLE bookings DROP CONSTRAINT ex_bookings_no_overlap")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE bookings ADD CONSTRAINT ex_bookings_no_overlap " + _NO_OVERLAP)
    op.drop_index("ix_hold_hosts_host", table_name="hold_hosts")
    op.drop_table("hold_hosts")
    op.drop_index("ix_booking_hosts_host_start", table_name="booking_hosts")
    op.drop_table("booking_hosts")
    with op.batch_alter_table("bookings") as batch_op:
        batch_op.drop_column("assignment")
