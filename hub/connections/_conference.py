"""A booking's conference: asked for when its event is written, then read back until the
provider says it is ready (or failed).

The write job (``_bookings``) writes the event with ``OutboundEvent.conference`` into the
calendar chosen at create time (``hub.bookings.conferencing``), then reads it back
(``EventReader.read_event``). Graph answers the Teams link at once; Google may report the Meet
conference ``pending``: then ``check_conference`` reads the event again later, on
``CHECK_DELAYS`` (a scheduled job per attempt), and after the last attempt the conference is
``failed`` (``conference_timeout``). A sync that reads the event (``_readback``) settles it too.

Settling is recorded once: the first answer that finds the conference ``pending`` makes it
``ready`` (with ``join_url``) or ``failed`` (with ``error``) and emits one ``booking.updated``
(payload ``change: "conferencing"``) in the same transaction; later answers change nothing. The
email consumer sends the attendees' invitation from that event, with the link (see
``hub.notifications._notices``): one invitation, carrying the link whenever there is one.

Every occurrence of a recurring booking has a conference of its own (Hub writes one provider
event per occurrence). The settle that leaves none of its series' conferences pending is marked
``completes_series`` in the booking's ``conferencing`` (never shown); its ``booking.updated``
sends the series' one invitation, with every occurrence's link (``hub.notifications._series``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final, cast

import msgspec
import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.bookings.outbox import emit
from hub.bookings.service import to_out
from hub.clock import utcnow
from hub.connections._access import credentials, part
from hub.connectors import ConferenceKind, ConferenceState, EventReader
from hub.db import Database
from hub.db.tables import Booking, BookingEvent, BookingSeries, Calendar, Connection
from hub.errors import PipelineError, TransientError
from hub.jobs.context import JobContext
from hub.jobs.queues import SYNC
from hub.jobs.runner import enqueue, job_id

log = structlog.get_logger("hub.connections")

CHECK_CONFERENCE: Final = "hub.connections.jobs.check_conference"
# waits before each read-back of a pending conference: about six minutes in all
CHECK_DELAYS: Final[tuple[timedelta, ...]] = tuple(timedelta(seconds=s) for s in (2, 5, 10, 20, 30, 60, 60, 60, 120))


def pending_conference(stored: dict[str, Any] | None, calendar_id: str) -> str | None:
    """The conference kind to ask for when writing a booking whose ``conferencing`` is
    ``stored`` into ``calendar_id``."""
    if not stored or stored.get("calendar_id") != calendar_id:
        return None
    return str(stored["provider"])


def settle(db: Database, booking_id: str, state: ConferenceState | None) -> str | None:
    """Record what the provider said about the booking's conference; its status afterwards."""
    if state is None or state.status == "pending":
        return "pending"
    with db.write() as session:
        return settle_in(session, db, booking_id, state)


def settle_in(session: Session, db: Database, booking_id: str, state: ConferenceState) -> str | None:
    """``settle`` inside the caller's write transaction (the sync's)."""
    booking = _locked(session, db, booking_id)
    if booking is None or not booking.conferencing:
        return None
    current = dict(booking.conferencing)
    if current.get("status") != "pending" or state.status == "pending":
        return str(current.get("status"))
    current.update(status=state.status, join_url=state.join_url, error=state.error)
    if booking.series_id is not None and _last_of_series(session, db, booking):
        current["completes_series"] = True
    booking.conferencing = current
    booking.updated_at = utcnow()
    session.flush()
    emit(
        session,
        organization_id=booking.organization_id,
        event_type="booking.updated",
        aggregate_type="booking",
        aggregate_id=booking.id,
        payload={**msgspec.to_builtins(to_out(booking)), "change": "conferencing", "sequence": booking.sequence},
    )
    log.info("conference.settled", booking_id=booking.id, status=state.status)
    return state.status


def _last_of_series(session: Session, db: Database, booking: Booking) -> bool:
    """Whether ``booking`` is its series' last occurrence whose conference was pending. Settles
    of one series are serialised on the series' row, so exactly one settle is the last."""
    query = select(BookingSeries.id).where(BookingSeries.id == booking.series_id)
    session.execute(query if db.is_sqlite else query.with_for_update())
    others = session.execute(  # columns, not objects: what is committed (or settled in this transaction)
        select(Booking.conferencing).where(Booking.series_id == booking.series_id, Booking.id != booking.id)
    ).scalars()
    return not any(c and c.get("status") == "pending" for c in others)


def _locked(session: Session, db: Database, booking_id: str) -> Booking | None:
    query = select(Booking).where(Booking.id == booking_id)
    return session.scalar(query if db.is_sqlite else query.with_for_update())


def fail(db: Database, booking_id: str, error: str) -> None:
    booking_kind = _kind(db, booking_id)
    if booking_kind is not None:
        settle(db, booking_id, ConferenceState(kind=cast(ConferenceKind, booking_kind), status="failed", error=error))


def _kind(db: Database, booking_id: str) -> str | None:
    with db.read() as session:
        booking = session.get(Booking, booking_id)
        return str(booking.conferencing["provider"]) if booking is not None and booking.conferencing else None


def after_write(ctx: JobContext, booking_id: str, calendar: Calendar, connection: Connection, event_id: str) -> None:
    """Read the event just written; a conference still pending is checked again later."""
    status = _read(ctx, booking_id, calendar, connection, event_id)
    if status == "pending":
        _schedule(ctx, booking_id, 1)


def check_conference(ctx: JobContext, booking_id: str, attempt: int) -> dict[str, Any]:
    """Read a pending conference back (attempt ``attempt`` of ``len(CHECK_DELAYS)``)."""
    with ctx.db.read() as session:
        booking = session.get(Booking, booking_id)
        if booking is None or not booking.conferencing or booking.conferencing.get("status") != "pending":
            return {"outcome": "settled"}
        found = session.execute(
            select(BookingEvent, Calendar, Connection)
            .join(Calendar, Calendar.id == BookingEvent.calendar_id)
            .join(Connection, Connection.id == Calendar.connection_id)
            .where(
                BookingEvent.booking_id == booking_id,
                BookingEvent.calendar_id == booking.conferencing.get("calendar_id"),
                BookingEvent.status == "written",
            )
        ).first()
    if found is None:
        fail(ctx.db, booking_id, "calendar_unavailable: the event with the conference was not written")
        return {"outcome": "failed"}
    record, calendar, connection = found
    status = _read(ctx, booking_id, calendar, connection, record.provider_event_id or "")
    if status != "pending":
        return {"outcome": status}
    if attempt >= len(CHECK_DELAYS):
        fail(ctx.db, booking_id, "conference_timeout: the provider did not finish the conference in time")
        return {"outcome": "failed"}
    _schedule(ctx, booking_id, attempt + 1)
    return {"outcome": "pending", "attempt": attempt}


def _read(ctx: JobContext, booking_id: str, calendar: Calendar, connection: Connection, event_id: str) -> str | None:
    calendars = part(ctx.connectors.get(connection.provider).calendars, "calendars")
    if not isinstance(calendars, EventReader):
        fail(ctx.db, booking_id, "conferencing_unsupported: this calendar cannot report a conference")
        return "failed"
    try:
        state = calendars.read_event(credentials(ctx, connection), calendar.provider_calendar_id, event_id)
    except TransientError:
        return "pending"  # the next check tries again
    except PipelineError as exc:
        fail(ctx.db, booking_id, f"{exc.code}: {exc.message}")
        return "failed"
    if state is None or state.cancelled:
        fail(ctx.db, booking_id, "event_gone: the event was deleted before its conference was ready")
        return "failed"
    if state.conference is None:
        return "pending"
    return settle(ctx.db, booking_id, state.conference)


def _schedule(ctx: JobContext, booking_id: str, attempt: int) -> None:
    delay = CHECK_DELAYS[min(attempt, len(CHECK_DELAYS)) - 1]
    enqueue(
        ctx.redis,
        CHECK_CONFERENCE,
        booking_id,
        attempt,
        queue_name=SYNC,
        id=job_id("conference", booking_id, str(attempt)),
        delay=delay,
    )
