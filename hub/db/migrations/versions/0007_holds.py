"""holds: temporary reservations of a host's time, live until they expire

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    when = hub.db.types.UTCDateTime(timezone=True)
    op.create_table(
        "holds",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("host_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("start_at", when, nullable=False),
        sa.Column("end_at", when, nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("expires_at", when, nullable=False),
        sa.Column("booking_id", sa.String(length=40), nullable=True),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", when, nullable=False),
        sa.Column("updated_at", when, nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_holds_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(["host_id"], ["users.id"], name=op.f("fk_holds_host_id_users")),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], name=op.f("fk_holds_booking_id_bookings")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holds")),
    )
    with op.batch_alter_table("holds", schema=None) as batch_op:
        # The hold check of every booking and hold create: one host's holds around a time.
        batch_op.create_index("ix_holds_host_start", ["host_id", "start_at"], unique=False)
        # The tidy job: active holds whose time ran out.
        batch_op.create_index("ix_holds_expiry", ["status", "expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.drop_index("ix_holds_expiry")
        batch_op.drop_index("ix_holds_host_start")
    op.drop_table("holds")
