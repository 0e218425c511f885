"""Where a host's busy time comes from: confirmed bookings, and blocks pulled from the
calendars the host linked. The engine takes them all as plain intervals."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from hub.db.tables import Booking, Calendar, Connection, ExternalEvent


class BusyBlock(msgspec.Struct, frozen=True):
    start: int  # epoch seconds, UTC
    end: int
    source: str  # "booking" or a provider slug
    ref: str | None = None  # the booking id, when the source is a booking

    def as_interval(self) -> tuple[int, int]:
        return (self.start, self.end)


def epoch(value: datetime) -> int:
    return int(value.timestamp())


def from_epoch(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)


# Built once and executed with parameters: the busy-time queries run on every booking and
# every availability request.
_BOOKINGS = select(Booking.id, Booking.start_at, Booking.end_at).where(
    Booking.host_id == bindparam("host_id"),
    Booking.status == "confirmed",
    Booking.start_at < bindparam("end"),
    Booking.end_at > bindparam("start"),
)
_EXTERNAL = (
    select(Connection.provider, ExternalEvent.start_at, ExternalEvent.end_at)
    .join(Calendar, Calendar.id == ExternalEvent.calendar_id)
    .join(Connection, Connection.id == Calendar.connection_id)
    .where(
        ExternalEvent.user_id == bindparam("host_id"),
        ExternalEvent.start_at < bindparam("end"),
        ExternalEvent.end_at > bindparam("start"),
        Calendar.busy_source.is_(True),
        Calendar.removed_at.is_(None),
        Connection.status != "revoked",
    )
)


def busy_blocks(session: Session, host_id: str, start: datetime, end: datetime) -> list[BusyBlock]:
    """Every busy block of ``host_id`` that overlaps ``[start, end)``: confirmed bookings, and
    events of busy-source calendars of the host's connections that are not unlinked (a
    connection needing reauthorization still contributes what it last synced)."""
    window = {"host_id": host_id, "start": start, "end": end}
    blocks = [
        BusyBlock(epoch(s), epoch(e), "booking", booking_id) for booking_id, s, e in session.execute(_BOOKINGS, window)
    ]
    blocks += [BusyBlock(epoch(s), epoch(e), provider) for provider, s, e in session.execute(_EXTERNAL, window)]
    return blocks
