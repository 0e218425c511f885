"""The booking notice an outbox event stands for.

``booking.created`` is a confirmation, ``booking.cancelled`` a cancellation,
``booking.rescheduled`` a reschedule (the new time, and the time before it); other events
produce no notice, except the ``booking.updated`` that settles a booking's conference.

A booking that asked for a conferencing link is not announced before the link exists: while its
conference is ``pending`` its confirmation (and a reschedule) notify nobody, and the
``booking.updated`` that settles the conference (``change: "conferencing"``, ready or failed) is
its confirmation, carrying the link (when ready) and the booking's times at that moment. So the
attendees get one invitation, with the link, never a second one only to add it.

The booking comes from the event's payload (the API's booking object), the hosts from
``users`` (every host of a team booking), and the sequence from the event when it carries one,
else 0 for a new booking and the stored ``bookings.sequence`` for a cancellation (cancelling
increments it).

A reschedule acts on the booking's current version: when the booking has moved again (or was
cancelled) since this event, the event is superseded and notifies nobody; the later event's
email tells everyone the last time, so an attendee never ends at an older one.

The occurrences of a recurring booking are told about as the series they belong to
(``hub.notifications._series``): one invitation for the series, then one message per change. A
series with conferencing is held the same way: its invitation goes out, with the links, from
the ``booking.updated`` that settles the last of its occurrences' conferences.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, cast

import msgspec
from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from hub.bookings import outbox
from hub.connectors import BookingNotice, NoticeKind, Recipient
from hub.db.tables import Booking, User
from hub.errors import PermanentError, SkippableError
from hub.notifications._series import occurrence_notice, series_notice, settled_notice

KINDS: Final[dict[str, NoticeKind]] = {
    "booking.created": "confirmation",
    "booking.cancelled": "cancellation",
    "booking.rescheduled": "reschedule",
    "booking.updated": "confirmation",  # only the one that settles the conference
}


# Every booking email job reads its host: a Core select on the table, built once.
_USERS = cast(Table, User.__table__)
_READ_USER = select(_USERS.c.email, _USERS.c.name).where(_USERS.c.id == bindparam("user_id"))


class _Attendee(msgspec.Struct):
    email: str
    name: str | None = None


class _Previous(msgspec.Struct):
    start: datetime
    end: datetime


class _Conferencing(msgspec.Struct):
    status: str = "pending"
    join_url: str | None = None


class BookingPayload(msgspec.Struct):
    """The fields of the API's booking object that a notice needs; others are ignored."""

    id: str
    host_id: str
    start: datetime
    end: datetime
    timezone: str
    title: str = ""
    attendees: list[_Attendee] = []
    cancellation_reason: str | None = None
    sequence: int | None = None
    previous: _Previous | None = None
    reason: str | None = None  # a reschedule's
    host_ids: list[str] = []  # every host of a team booking, ``host_id`` first
    conferencing: _Conferencing | None = None
    change: str | None = None  # a booking.updated's: what changed
    series_id: str | None = None
    occurrence_index: int | None = None


def _payload(outbox_id: str, payload: dict[str, Any]) -> BookingPayload:
    try:
        return msgspec.convert(payload, BookingPayload)
    except msgspec.ValidationError as exc:
        raise PermanentError(f"outbox row {outbox_id} is not a booking: {exc}", code="email_bad_payload") from None


def _sequence(session: Session, event_type: str, booking: BookingPayload) -> int:
    if booking.sequence is not None:
        return booking.sequence
    if event_type == "booking.created":
        return 0
    row = session.get(Booking, booking.id)
    return max(row.sequence if row is not None else 1, 1)


def _superseded(session: Session, booking: BookingPayload) -> bool:
    """Whether the booking moved again or was cancelled after this reschedule."""
    row = session.get(Booking, booking.id)
    return row is None or row.status != "confirmed" or row.sequence != booking.sequence


def booking_notice(session: Session, outbox_id: str) -> tuple[str, BookingNotice] | None:
    """The event's organization and notice; None for an event that notifies nobody."""
    message = outbox.read(session, [outbox_id]).get(outbox_id)
    if message is None:
        raise SkippableError(f"outbox row {outbox_id} does not exist", code="outbox_missing")
    if message.aggregate_type == "booking_series":
        whole = series_notice(session, message)
        return None if whole is None else (message.organization_id, whole)
    kind = KINDS.get(message.event_type)
    if kind is None:
        return None
    booking = _payload(outbox_id, message.payload)
    if kind == "reschedule" and _superseded(session, booking):
        return None
    if booking.series_id is not None and message.event_type == "booking.updated":
        return _settled_series(session, message, booking)
    if _held_or_unrelated(session, message.event_type, booking):
        return None
    host, *co_hosts = [_host(session, booking, host_id) for host_id in booking.host_ids or [booking.host_id]]
    notice = BookingNotice(
        kind=kind,
        booking_id=booking.id,
        sequence=_sequence(session, message.event_type, booking),
        title=booking.title,
        start=booking.start,
        end=booking.end,
        timezone=booking.timezone,
        host=host,
        attendees=tuple(Recipient(a.email, a.name) for a in booking.attendees),
        stamp=message.created_at,
        cancellation_reason=booking.cancellation_reason if kind == "cancellation" else None,
        previous_start=booking.previous.start if kind == "reschedule" and booking.previous else None,
        previous_end=booking.previous.end if kind == "reschedule" and booking.previous else None,
        reschedule_reason=booking.reason if kind == "reschedule" else None,
        co_hosts=tuple(co_hosts),
        join_url=booking.conferencing.join_url
        if booking.conferencing and booking.conferencing.status == "ready"
        else None,
    )
    if booking.series_id is not None and booking.occurrence_index is not None:
        occurrence = occurrence_notice(session, notice, booking.series_id, booking.occurrence_index)
        return None if occurrence is None else (message.organization_id, occurrence)
    return message.organization_id, notice


def _settled_series(
    session: Session, message: outbox.Event, booking: BookingPayload
) -> tuple[str, BookingNotice] | None:
    """An occurrence's ``booking.updated``: the series' invitation when it settled the series'
    last pending conference, else nothing."""
    row = session.get(Booking, booking.id)
    whole = None if row is None or booking.change != "conferencing" else settled_notice(session, message, row)
    return None if whole is None else (message.organization_id, whole)


def _host(session: Session, booking: BookingPayload, host_id: str) -> Recipient:
    host = session.execute(_READ_USER, {"user_id": host_id}).first()
    if host is None:
        raise PermanentError(f"host {host_id} of {booking.id} does not exist", code="email_host_missing")
    return Recipient(host.email, host.name)


def _held_or_unrelated(session: Session, event_type: str, booking: BookingPayload) -> bool:
    """Whether this event tells nobody: a confirmation or move while the conference is still
    being made (the settling ``booking.updated`` announces it), a ``booking.updated`` that does
    not settle a conference, or one for a booking cancelled since."""
    if event_type == "booking.updated":
        if booking.change != "conferencing":
            return True
        row = session.get(Booking, booking.id)
        return row is None or row.status != "confirmed"
    pending = booking.conferencing is not None and booking.conferencing.status == "pending"
    return pending and event_type in ("booking.created", "booking.rescheduled")
