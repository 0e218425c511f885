"""Writing bookings into the booking-target calendars of each of its hosts, updating them in place when a
booking moves, and deleting them on cancellation; each event written is a ``booking_events``
row, so a repeated job writes nothing twice.

Every write acts on the booking's current state, never on an event's snapshot: a row keeps
the booking ``sequence`` (its version) it was last written with, and ``_bring_up_to_date``
patches each written event whose version is older than the booking's. A job that wrote an
older state after a newer one was recorded (two quick reschedules, their jobs overlapping)
finds that out when it records, and writes the current state again; so the provider always
ends at the booking's last time, and a stale job whose state is already there does nothing.

A calendar write runs for every booking, so the statements it runs each time are built once, at
import, with their values bound at execution: building a select with two joins took longer than
SQLite took to run it. The rows read as plain values are read from the tables, and the event's
row is inserted on a Core connection (``Database.begin``): a session, and a statement on a
mapped class, cost more than SQLite takes to run it. The calendars and connections are read as
ORM objects: the provider's credentials are kept on them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import msgspec
from sqlalchemy import Table, bindparam, exists, insert, select, update
from sqlalchemy.orm import Session

from hub.clock import utcnow
from hub.connections import _conference
from hub.connections._access import credentials, fail, part
from hub.connectors import OutboundEvent
from hub.db.tables import Booking, BookingEvent, BookingHost, Calendar, Connection, OutboxMessage
from hub.errors import PermanentError, ReauthRequired, SkippableError, TransientError
from hub.jobs.context import JobContext
from hub.statuses import BookingEventStatus


class _Booking(msgspec.Struct, frozen=True):
    """What writing a booking into calendars reads of it (one Core select, no ORM object)."""

    id: str
    status: str
    host_id: str
    title: str | None
    start_at: datetime
    end_at: datetime
    timezone: str
    attendees: list[Any]
    sequence: int
    conferencing: dict[str, Any] | None


_BOOKINGS = cast(Table, Booking.__table__)
_OUTBOX = cast(Table, OutboxMessage.__table__)
_BOOKING_HOSTS = cast(Table, BookingHost.__table__)
_READ_BOOKING = select(*(_BOOKINGS.c[name] for name in _Booking.__struct_fields__)).where(
    _BOOKINGS.c.id == bindparam("booking_id")
)
_READ_EVENT = select(_OUTBOX.c.event_type, _OUTBOX.c.aggregate_id).where(
    _OUTBOX.c.id == bindparam("outbox_id"), _OUTBOX.c.aggregate_type == "booking"
)
_HOSTS = (
    select(_BOOKING_HOSTS.c.host_id)
    .where(_BOOKING_HOSTS.c.booking_id == bindparam("booking_id"))
    .order_by(_BOOKING_HOSTS.c.position)
)
# The booking-target calendars of the hosts (``user_ids``) with no event of the booking yet.
_UNWRITTEN_TARGETS = (
    select(Calendar, Connection)
    .join(Connection, Connection.id == Calendar.connection_id)
    .where(
        Connection.user_id.in_(bindparam("user_ids", expanding=True)),
        Connection.status == "active",
        Calendar.booking_target.is_(True),
        Calendar.removed_at.is_(None),
        ~exists().where(BookingEvent.booking_id == bindparam("booking_id"), BookingEvent.calendar_id == Calendar.id),
    )
)
_INSERT_EVENT = insert(cast(Table, BookingEvent.__table__)).values(
    {
        name: bindparam(name)
        for name in (
            "booking_id",
            "calendar_id",
            "connection_id",
            "provider_event_id",
            "status",
            "error",
            "sequence",
            "written_start_at",
            "written_end_at",
            "created_at",
            "updated_at",
        )
    }
)
# The booking's written events older than ``sequence`` (or lowered by ``_update``): their ids,
# read from the tables (most calendar writes find none), then, when there are any, the rows
# with their calendars and connections, still meeting the same conditions (on PostgreSQL the
# second statement reads a later snapshot).
_EVENTS = cast(Table, BookingEvent.__table__)
_CALENDARS = cast(Table, Calendar.__table__)
_CONNECTIONS = cast(Table, Connection.__table__)
_STALE_IDS = (
    select(_EVENTS.c.id)
    .join(_CALENDARS, _CALENDARS.c.id == _EVENTS.c.calendar_id)
    .join(_CONNECTIONS, _CONNECTIONS.c.id == _CALENDARS.c.connection_id)
    .where(
        _EVENTS.c.booking_id == bindparam("booking_id"),
        _EVENTS.c.status == "written",
        _EVENTS.c.sequence < bindparam("sequence"),
        _CONNECTIONS.c.status != "revoked",
    )
)
_STALE_ROWS = (
    select(BookingEvent, Calendar, Connection)
    .join(Calendar, Calendar.id == BookingEvent.calendar_id)
    .join(Connection, Connection.id == Calendar.connection_id)
    .where(
        BookingEvent.id.in_(bindparam("ids", expanding=True)),
        BookingEvent.status == "written",
        BookingEvent.sequence < bindparam("sequence"),
        Connection.status != "revoked",
    )
    .order_by(BookingEvent.id)
)


def _read_booking(session: Session, booking_id: str) -> _Booking | None:
    row = session.execute(_READ_BOOKING, {"booking_id": booking_id}).first()
    return None if row is None else _Booking(*row)


def write_booking(ctx: JobContext, outbox_id: str) -> dict[str, Any]:
    with ctx.db.read() as session:
        found = session.execute(_READ_EVENT, {"outbox_id": outbox_id}).first()
        if found is None:
            return {"outcome": "nothing_to_do"}
        event_type, booking_id = found
        booking = _read_booking(session, booking_id)
        if booking is None:
            return {"outcome": "nothing_to_do"}
        if event_type == "booking.created":
            todo = _unwritten_targets(session, booking)
        elif event_type == "booking.cancelled":
            rows = list(
                session.execute(
                    select(BookingEvent, Calendar, Connection)
                    .join(Calendar, Calendar.id == BookingEvent.calendar_id)
                    .join(Connection, Connection.id == Calendar.connection_id)
                    .where(BookingEvent.booking_id == booking.id, BookingEvent.status == "written")
                )
            )
    if event_type == "booking.created":
        outcome = _write(ctx, booking, todo)
        moved = _bring_up_to_date(ctx, booking.id, after_write=True)  # the booking moved while this job wrote it
        return {**outcome, "updated": moved} if moved else outcome
    if event_type == "booking.rescheduled":
        return {"outcome": "updated", "events": _bring_up_to_date(ctx, booking.id)}
    if event_type == "booking.cancelled":
        return _delete(ctx, rows)
    return {"outcome": "nothing_to_do"}


def _unwritten_targets(session: Session, booking: _Booking) -> list[tuple[Calendar, Connection]]:
    """The booking-target calendars of every host of the booking (each host's calendars get
    their own event) that have no event of the booking yet."""
    hosts = list(session.scalars(_HOSTS, {"booking_id": booking.id})) or [booking.host_id]
    targets = session.execute(_UNWRITTEN_TARGETS, {"user_ids": hosts, "booking_id": booking.id})
    return [(cal, con) for cal, con in targets]


def _outbound(booking: _Booking, calendar_id: str) -> OutboundEvent:
    return OutboundEvent(
        booking_id=booking.id,
        title=booking.title or "Booking",
        start=booking.start_at,
        end=booking.end_at,
        timezone=booking.timezone,
        attendees=tuple((a["email"], a.get("name")) for a in booking.attendees),
        description=f"Booked through Hub ({booking.id}).",
        sequence=booking.sequence,
        conference=_conference.pending_conference(booking.conferencing, calendar_id),  # type: ignore[arg-type]
    )


def _conference_without_event(session: Session, booking: _Booking) -> bool:
    """Whether the booking's conference is pending in a calendar that got no event (unlinked or
    no longer a target meanwhile): it then fails, so the invitation still goes out (without a
    link) instead of waiting for ever."""
    stored = booking.conferencing
    if not stored or stored.get("status") != "pending":
        return False
    written = session.scalar(
        select(BookingEvent.id).where(
            BookingEvent.booking_id == booking.id,
            BookingEvent.calendar_id == stored.get("calendar_id"),
            BookingEvent.status == "written",
        )
    )
    return written is None


def _write(ctx: JobContext, booking: _Booking, todo: list[tuple[Calendar, Connection]]) -> dict[str, Any]:
    done = 0
    for calendar, connection in todo:
        calendars = part(ctx.connectors.get(connection.provider).calendars, "calendars")
        status: BookingEventStatus
        try:
            event_id = calendars.write_event(
                credentials(ctx, connection), calendar.provider_calendar_id, _outbound(booking, calendar.id)
            )
            status, error = "written", None
        except TransientError:
            raise
        except (ReauthRequired, PermanentError) as exc:
            fail(ctx, connection.id, exc)
            event_id, status, error = None, "failed", f"{exc.code}: {exc.message}"
        now = utcnow()
        with ctx.db.begin() as db_connection:
            db_connection.execute(
                _INSERT_EVENT,
                {
                    "booking_id": booking.id,
                    "calendar_id": calendar.id,
                    "connection_id": connection.id,
                    "provider_event_id": event_id,
                    "status": status,
                    "error": error,
                    "sequence": booking.sequence,
                    "written_start_at": booking.start_at,
                    "written_end_at": booking.end_at,
                    "created_at": now,
                    "updated_at": now,
                },
            )
        done += status == "written"
        if event_id is not None and _conference.pending_conference(booking.conferencing, calendar.id):
            _conference.after_write(ctx, booking.id, calendar, connection, event_id)
    return {"outcome": "written", "events": done}


def _delete(ctx: JobContext, rows: list[Any]) -> dict[str, Any]:
    done = 0
    for record, calendar, connection in rows:
        if connection.status == "revoked":
            continue
        calendars = part(ctx.connectors.get(connection.provider).calendars, "calendars")
        try:
            calendars.delete_event(
                credentials(ctx, connection), calendar.provider_calendar_id, record.provider_event_id
            )
        except SkippableError:
            pass  # already gone
        except (ReauthRequired, PermanentError) as exc:
            fail(ctx, connection.id, exc)
            continue
        with ctx.db.write() as session:
            session.execute(
                update(BookingEvent).where(BookingEvent.id == record.id).values(status="deleted", updated_at=utcnow())
            )
        done += 1
    return {"outcome": "deleted", "events": done}


NO_CONFERENCE_EVENT = "calendar_unavailable: the event with the conference could not be written"
MAX_ROUNDS = 10  # bookings moving faster than this many writes per job: retried by RQ later


def _bring_up_to_date(ctx: JobContext, booking_id: str, *, after_write: bool = False) -> int:
    """Patch every written event of the booking to its current state; the events updated.
    ``after_write``: the job has just written the booking's events, so its conference also
    fails now if its calendar got none (``_conference_without_event``), checked in the same
    read as the first round."""
    done = 0
    for _ in range(MAX_ROUNDS):
        with ctx.db.read() as session:
            booking = _read_booking(session, booking_id)
            orphaned = after_write and booking is not None and _conference_without_event(session, booking)
            current = booking is not None and booking.status == "confirmed"
            stale = _stale_rows(session, booking) if booking is not None and current else []
        after_write = False  # the first round only
        if orphaned:
            _conference.fail(
                ctx.db, booking_id, "calendar_unavailable: the event with the conference could not be written"
            )
        if booking is None or not stale:
            return done  # no longer confirmed (a cancel deletes the events), or up to date
        for record, calendar, connection in stale:
            done += _update(ctx, booking, record, calendar, connection)
    raise TransientError(f"booking {booking_id} kept moving while its events were written", code="booking_moving")


def _stale_rows(session: Session, booking: _Booking) -> list[Any]:
    """The booking's written events whose version is older than the booking's (or that a job
    may have overwritten with an older state: ``forced`` rows, see ``_update``)."""
    ids = list(session.scalars(_STALE_IDS, {"booking_id": booking.id, "sequence": booking.sequence}))
    if not ids:
        return []
    return list(session.execute(_STALE_ROWS, {"ids": ids, "sequence": booking.sequence}))


def _update(
    ctx: JobContext, booking: _Booking, record: BookingEvent, calendar: Calendar, connection: Connection
) -> int:
    """Write ``booking`` (as read) over the event of ``record``, then record the version, but only
    if the booking is still at it and no newer version was recorded meanwhile. Otherwise this
    write may have landed after a newer one: the row's version is lowered below the booking's,
    so the next round writes the current state again."""
    calendars = part(ctx.connectors.get(connection.provider).calendars, "calendars")
    try:
        event_id = calendars.update_event(
            credentials(ctx, connection),
            calendar.provider_calendar_id,
            record.provider_event_id or "",
            _outbound(booking, calendar.id),
        )
    except (ReauthRequired, PermanentError) as exc:
        fail(ctx, connection.id, exc)
        with ctx.db.write() as session:
            session.execute(
                update(BookingEvent)
                .where(BookingEvent.id == record.id)
                .values(error=f"{exc.code}: {exc.message}", sequence=booking.sequence, updated_at=utcnow())
            )
        return 0
    with ctx.db.write() as session:
        current = session.scalar(select(Booking.sequence).where(Booking.id == booking.id))
        recorded = session.execute(
            update(BookingEvent)
            .where(BookingEvent.id == record.id, BookingEvent.sequence < booking.sequence)
            .values(
                provider_event_id=event_id,
                sequence=booking.sequence,
                error=None,
                updated_at=utcnow(),
                written_start_at=booking.start_at,
                written_end_at=booking.end_at,
            )
            .returning(BookingEvent.id)
        ).first()
        if current is not None and (current != booking.sequence or recorded is None):
            session.execute(
                update(BookingEvent)
                .where(BookingEvent.id == record.id)
                .values(provider_event_id=event_id, sequence=min(booking.sequence, current) - 1)
            )
    return 1
