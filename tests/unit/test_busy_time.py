"""Busy time read for a window, against the test database: the query looks for a host's bookings
no further back than the longest booking can last (``LONGEST_BOOKING``), and a booking of exactly
that length reaching into the window is still found."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.auth.principal import Principal
from hub.availability.busy import LONGEST_BOOKING, busy_blocks, busy_times_for, epoch
from hub.bookings.schemas import BookingCreate
from hub.bookings.service import create_booking
from hub.db import Database
from hub.errors import FieldError
from hub.users.schemas import UserCreate, WorkingHours
from hub.users.service import create_user

MONDAY = datetime(2030, 12, 2, 0, 30, tzinfo=UTC)
NOW = datetime(2030, 11, 1, tzinfo=UTC)


@pytest.fixture
def host_id(db: Database, principal: Principal) -> str:
    hours = [WorkingHours(weekday=day, start="00:00", end="24:00") for day in ("mon", "tue", "wed", "thu", "fri")]
    data = UserCreate(name="Ada", email="ada@example.com", timezone="UTC", working_hours=hours)
    return create_user(db, principal, data).id


def book(db: Database, principal: Principal, host_id: str, start: datetime, minutes: int) -> str:
    data = BookingCreate(host_id=host_id, start=start.isoformat(), duration_minutes=minutes, ignore_availability=True)
    return create_booking(db, principal, data).id


def test_no_booking_longer_than_the_bound_is_accepted(db: Database, principal: Principal, host_id: str) -> None:
    too_long = MONDAY + LONGEST_BOOKING + timedelta(minutes=1)
    data = BookingCreate(host_id=host_id, start=MONDAY.isoformat(), end=too_long.isoformat(), ignore_availability=True)
    with pytest.raises(FieldError) as refused:
        create_booking(db, principal, data)
    assert refused.value.field == "end"
    assert refused.value.extra["errors"] == [{"field": "end", "message": "a booking may last at most 24 hours"}]


def test_a_full_length_booking_reaching_into_the_window_is_busy_time(
    db: Database, principal: Principal, host_id: str
) -> None:
    long_id = book(db, principal, host_id, MONDAY, 1440)  # Monday 00:30 to Tuesday 00:30
    book(db, principal, host_id, MONDAY - timedelta(days=3), 60)  # long over before the window
    window = (MONDAY + timedelta(hours=23, minutes=59), MONDAY + timedelta(days=1, hours=2))
    with db.connect() as connection:
        times = busy_times_for(connection, [host_id], *window, now=NOW)
        after = busy_times_for(connection, [host_id], MONDAY + timedelta(days=1), MONDAY + timedelta(days=2), now=NOW)
    assert times == ({host_id: [(epoch(MONDAY), epoch(MONDAY + timedelta(days=1)))]}, None)
    assert after == ({host_id: []}, None)  # half-open: the booking ends where this window starts
    with db.read() as session:
        blocks = busy_blocks(session, host_id, *window, now=NOW)
    assert [(b.source, b.ref, b.start) for b in blocks] == [("booking", long_id, epoch(MONDAY))]
