"""booking series: recurring bookings, and each occurrence's series and place in it

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-10 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    when = hub.db.types.UTCDateTime(timezone=True)
    json = hub.db.types.JSONType
    op.create_table(
        "booking_series",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("host_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("recurrence", json, nullable=False),
        sa.Column("starts", json, nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column("skipped", json, nullable=False),
        sa.Column("cancellations", json, nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", when, nullable=False),
        sa.Column("updated_at", when, nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_booking_series_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(["host_id"], ["users.id"], name=op.f("fk_booking_series_host_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_series")),
    )
    with op.batch_alter_table("booking_series", schema=None) as batch_op:
        batch_op.create_index("ix_booking_series_organization_id", ["organization_id"], unique=False)
    # On SQLite the columns are added in place (a batch copy of ``bookings`` would drop the table,
    # which the rows referring to bookings forbid), without the foreign key SQLite cannot add.
    if op.get_bind().dialect.name == "sqlite":
        op.add_column("bookings", sa.Column("series_id", sa.String(length=40), nullable=True))
        op.add_column("bookings", sa.Column("occurrence_index", sa.Integer(), nullable=True))
    else:
        with op.batch_alter_table("bookings", schema=None) as batch_op:
            batch_op.add_column(sa.Column("series_id", sa.String(length=40), nullable=True))
            batch_op.add_column(sa.Column("occurrence_index", sa.Integer(), nullable=True))
            batch_op.create_foreign_key(
                op.f("fk_bookings_series_id_booking_series"), "booking_series", ["series_id"], ["id"]
            )
    op.create_index("ix_bookings_series_id", "bookings", ["series_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_bookings_series_id", table_name="bookings")
    if op.get_bind().dialect.name == "sqlite":  # SQLite >= 3.35 drops a plain column in place
        op.execute("ALTER TABLE bookings DROP COLUMN occurrence_index")
        op.execute("ALTER TABLE bookings DROP COLUMN series_id")
    else:
        with op.batch_alter_table("bookings", schema=None) as batch_op:
            batch_op.drop_constraint(op.f("fk_bookings_series_id_booking_series"), type_="foreignkey")
            batch_op.drop_column("occurrence_index")
            batch_op.drop_column("series_id")
    with op.batch_alter_table("booking_series", schema=None) as batch_op:
        batch_op.drop_index("ix_booking_series_organization_id")
    op.drop_table("booking_series")
