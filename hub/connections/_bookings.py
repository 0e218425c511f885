"""Writing bookings into the host's booking-target calendars, and deleting them on
cancellation; each event written is a ``booking_events`` row, so a repeated job writes nothing
twice."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from hub.clock import utcnow
from hub.connections._access import credentials, fail, part
from hub.connectors import OutboundEvent
from hub.db.tables import Booking, BookingEvent, Calendar, Connection, OutboxMessage
from hub.errors import PermanentError, ReauthRequired, SkippableError, TransientError
from hub.jobs.context import JobContext
from hub.statuses import BookingEventStatus


def write_booking(ctx: JobContext, outbox_id: str) -> dict[str, Any]:
    with ctx.db.read() as session:
        message = session.get(OutboxMessage, outbox_id)
        if message is None or message.aggregate_type != "booking":
            return {"outcome": "nothing_to_do"}
        booking = session.get(Booking, message.aggregate_id)
        if booking is None:
            return {"outcome": "nothing_to_do"}
        if message.event_type == "booking.created":
            targets = list(
                session.execute(
                    select(Calendar, Connection)
                    .join(Connection, Connection.id == Calendar.connection_id)
                    .where(
                        Connection.user_id == booking.host_id,
                        Connection.status == "active",
                        Calendar.booking_target.is_(True),
                        Calendar.removed_at.is_(None),
                    )
                )
            )
            written = {
                e.calendar_id
                for e in session.scalars(select(BookingEvent).where(BookingEvent.booking_id == booking.id))
            }
            todo = [(cal, con) for cal, con in targets if cal.id not in written]
            return _write(ctx, booking, todo)
        if message.event_type == "booking.cancelled":
            rows = list(
                session.execute(
                    select(BookingEvent, Calendar, Connection)
                    .join(Calendar, Calendar.id == BookingEvent.calendar_id)
                    .join(Connection, Connection.id == Calendar.connection_id)
                    .where(BookingEvent.booking_id == booking.id, BookingEvent.status == "written")
                )
            )
            return _delete(ctx, rows)
    return {"outcome": "nothing_to_do"}


def _outbound(booking: Booking) -> OutboundEvent:
    return OutboundEvent(
        booking_id=booking.id,
        title=booking.title or "Booking",
        start=booking.start_at,
        end=booking.end_at,
        timezone=booking.timezone,
        attendees=tuple((a["email"], a.get("name")) for a in booking.attendees),
        description=f"Booked through Hub ({booking.id}).",
    )


def _write(ctx: JobContext, booking: Booking, todo: list[tuple[Calendar, Connection]]) -> dict[str, Any]:
    done = 0
    for calendar, connection in todo:
        calendars = part(ctx.connectors.get(connection.provider).calendars, "calendars")
        status: BookingEventStatus
        try:
            event_id = calendars.write_event(
                credentials(ctx, connection), calendar.provider_calendar_id, _outbound(booking)
            )
            status, error = "written", None
        except TransientError:
            raise
        except (ReauthRequired, PermanentError) as exc:
            fail(ctx, connection.id, exc)
            event_id, status, error = None, "failed", f"{exc.code}: {exc.message}"
        now = utcnow()
        with ctx.db.write() as session:
            session.add(
                BookingEvent(
                    booking_id=booking.id,
                    calendar_id=calendar.id,
                    connection_id=connection.id,
                    provider_event_id=event_id,
                    status=status,
                    error=error,
                    created_at=now,
                    updated_at=now,
                )
            )
        done += status == "written"
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
