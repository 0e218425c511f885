"""Reading back, during a sync, the events Hub wrote: the guests' answers, the host deleting or
moving the event in their own calendar, and a conference that became ready.

A change feed returns each event's state (``ChangeBatch.events``). The events Hub wrote are
the ``booking_events`` rows of the calendar with those provider ids; for each one of a
confirmed booking, in the sync's own write transaction (the booking row locked on
PostgreSQL, so two syncs cannot both see a change as new):

* each guest whose answer differs from the one stored gets it stored under
  ``attendees[].response`` and one ``booking.attendee_responded``; the same answer seen again
  (the next sync, a push, a full resync) changes nothing and sends nothing;
* an event deleted or cancelled at the provider is ``external_change.kind = "deleted"``; an
  event whose times are neither the ones Hub last wrote into it nor the booking's own (a
  reschedule whose patch is still being recorded) is ``"moved"`` to the times it has. The
  booking keeps its time and Hub writes nothing back; one ``booking.external_change`` is sent
  per new finding (a second sync seeing the same state sends nothing);
* a pending conference that the event now shows ready (or failed) is settled
  (``_conference.settle_in``).

What was found is returned for the sync log (``sync_runs.booking_changes``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.bookings.outbox import emit
from hub.bookings.service import to_out
from hub.connections._conference import settle_in
from hub.connectors import EventState
from hub.db import Database
from hub.db.tables import Booking, BookingEvent, Calendar

log = structlog.get_logger("hub.connections")

CHUNK = 500


def read_back(session: Session, db: Database, calendar: Calendar, events: list[EventState], now: datetime) -> list[Any]:
    """Apply the states of Hub's own events among ``events``; what was found, for the sync log."""
    states = {e.provider_event_id: e for e in events}
    ids = sorted(states)
    rows: list[BookingEvent] = []
    for start in range(0, len(ids), CHUNK):
        rows += session.scalars(
            select(BookingEvent).where(
                BookingEvent.calendar_id == calendar.id,
                BookingEvent.status == "written",
                BookingEvent.provider_event_id.in_(ids[start : start + CHUNK]),
            )
        )
    found: list[Any] = []
    for record in sorted(rows, key=lambda r: r.booking_id):
        query = select(Booking).where(Booking.id == record.booking_id)
        booking = session.scalar(query if db.is_sqlite else query.with_for_update())
        if booking is None or booking.status != "confirmed":
            continue  # a cancelled booking's event is deleted by Hub itself
        state = states[record.provider_event_id or ""]
        kinds = _responses(session, booking, state) + _external(session, booking, record, state, now)
        conference = booking.conferencing or {}
        if state.conference is not None and conference.get("calendar_id") == calendar.id:
            settled = settle_in(session, db, booking.id, state.conference)
            if settled != "pending" and conference.get("status") == "pending":
                kinds.append(f"conference_{settled}")
        found += [{"booking_id": booking.id, "kind": kind} for kind in kinds]
    for item in found:
        log.info("sync.booking_change", calendar_id=calendar.id, **item)
    return found


def _responses(session: Session, booking: Booking, state: EventState) -> list[str]:
    answers = {email.casefold(): response for email, response in state.attendees}
    attendees = [dict(a) for a in booking.attendees]
    changed: list[dict[str, Any]] = []
    for attendee in attendees:
        new = answers.get(str(attendee["email"]).casefold())
        previous = attendee.get("response") or "needs_action"
        if new is not None and new != previous:
            attendee["response"] = new
            changed.append({"email": attendee["email"], "response": new, "previous": previous})
    if not changed:
        return []
    booking.attendees = attendees
    session.flush()
    out = msgspec.to_builtins(to_out(booking))
    for change in changed:
        emit(
            session,
            organization_id=booking.organization_id,
            event_type="booking.attendee_responded",
            aggregate_type="booking",
            aggregate_id=booking.id,
            payload={**out, "response_change": change},
        )
    return ["attendee_responded"] * len(changed)


def _external(session: Session, booking: Booking, record: BookingEvent, state: EventState, now: datetime) -> list[str]:
    if state.cancelled:
        kind = "deleted"
        start, end = record.written_start_at or booking.start_at, record.written_end_at or booking.end_at
    elif state.start is not None and state.end is not None:
        times = (state.start, state.end)
        if times in ((record.written_start_at, record.written_end_at), (booking.start_at, booking.end_at)):
            return []
        kind, (start, end) = "moved", times
    else:
        return []
    finding = {"kind": kind, "start": _iso(start), "end": _iso(end)}
    known = booking.external_change or {}
    if {k: known.get(k) for k in finding} == finding:
        return []  # found before
    booking.external_change = {**finding, "detected_at": _iso(now)}
    booking.updated_at = now
    session.flush()
    emit(
        session,
        organization_id=booking.organization_id,
        event_type="booking.external_change",
        aggregate_type="booking",
        aggregate_id=booking.id,
        payload=to_out(booking),
    )
    return [kind]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None
