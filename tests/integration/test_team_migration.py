"""Migration 0010 on a database that already holds bookings and holds: each gets its one host
row, the booked time stays busy (and, on PostgreSQL, guarded per host), and the migration goes
down and up again. Runs in a fresh database of its own: a new SQLite file, or a new schema of
the PostgreSQL test database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from alembic import command
from sqlalchemy import Table, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from hub.availability.busy import busy_blocks
from hub.db import Database, upgrade
from hub.db.migrate import alembic_config
from hub.db.tables import Booking, BookingHost, Hold, HoldHost, Organization, User

START = datetime(2030, 12, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def fresh(database_url: str, tmp_path: Path) -> Iterator[Database]:
    if make_url(database_url).get_backend_name() == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'before.db'}")
        yield database
        database.dispose()
        return
    # A schema of its own, alone on the search path: the shared database's tables stay out of sight.
    schema = f"mig_{uuid.uuid4().hex[:12]}"
    admin = Database(database_url)
    with admin.engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in database_url else "?"
    database = Database(f"{database_url}{separator}options=-csearch_path%3D{schema}")
    try:
        yield database
    finally:
        database.dispose()
        with admin.engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _insert(database: Database, table: Any, **values: Any) -> None:
    with database.write_engine.begin() as connection:
        connection.execute(insert(cast(Table, table.__table__)), values)


def _seed(database: Database) -> None:
    """An organization, a user, a booking and a hold written as Hub wrote them before 0010."""
    now = START - timedelta(days=10)
    _insert(database, Organization, id="org_m", name="Before", created_at=now)
    common = {"organization_id": "org_m", "timezone": "Europe/Berlin", "created_at": now, "updated_at": now}
    _insert(database, User, id="usr_m", name="Ada", email="ada@example.com", working_hours=[], buffer_minutes=0,
            minimum_notice_minutes=0, **common)  # fmt: skip
    _insert(database, Booking, id="bkg_m", host_id="usr_m", status="confirmed", start_at=START,
            end_at=START + timedelta(minutes=30), requested={}, title="", attendees=[], sequence=0, **{"metadata": {}},
            reschedule_count=0, **common)  # fmt: skip
    _insert(database, Hold, id="hld_m", host_id="usr_m", status="active", start_at=START + timedelta(hours=1),
            end_at=START + timedelta(hours=2), expires_at=START, **common)  # fmt: skip


def test_existing_bookings_and_holds_get_their_host_rows(fresh: Database) -> None:
    upgrade(fresh, "0009")
    _seed(fresh)
    upgrade(fresh)

    with fresh.read() as session:
        rows = [
            (r.booking_id, r.host_id, r.position, r.status, r.start_at, r.end_at)
            for r in session.scalars(select(BookingHost))
        ]
        held = [(r.hold_id, r.host_id, r.position) for r in session.scalars(select(HoldHost))]
        booking = session.get(Booking, "bkg_m")
        assert booking is not None
        assert booking.assignment is None
        assert [h.host_id for h in booking.hosts] == ["usr_m"]
        blocks = busy_blocks(session, "usr_m", START, START + timedelta(hours=3), now=START - timedelta(days=1))
    assert rows == [("bkg_m", "usr_m", 0, "confirmed", START, START + timedelta(minutes=30))]
    assert held == [("hld_m", "usr_m", 0)]
    assert [(b.source, b.ref) for b in blocks] == [("booking", "bkg_m"), ("hold", "hld_m")]

    if not fresh.is_sqlite:  # the no-overlap guarantee now holds per host row
        with pytest.raises(IntegrityError), fresh.write_engine.begin() as connection:
            connection.execute(
                insert(cast(Table, BookingHost.__table__)),
                {"booking_id": "bkg_m", "host_id": "usr_m", "position": 1, "status": "confirmed",
                 "start_at": START + timedelta(minutes=10), "end_at": START + timedelta(minutes=20)},
            )  # fmt: skip

    command.downgrade(alembic_config(fresh), "0009")
    with fresh.read() as session:
        assert session.execute(text("SELECT count(*) FROM bookings")).scalar() == 1
    upgrade(fresh)
    with fresh.read() as session:
        assert [r.booking_id for r in session.scalars(select(BookingHost))] == ["bkg_m"]
