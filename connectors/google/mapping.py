"""Pure mapping between Google Calendar wire shapes and Hub's values. No I/O.

Inbound, every Google event becomes one ``BusyChange``: a busy block in aware UTC, or
``busy=False`` (forget it) when the event is cancelled or deleted, marked free (``transparency:
transparent``), declined by the calendar's owner, or a working-location marker. Outbound, a booking
becomes an ``events.insert`` body whose id is derived from the booking id, so a retried insert
answers 409 ``duplicate`` instead of creating a second event (DESIGN.md §7).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.google.schemas import (
    CalendarListEntry,
    Event,
    EventDateTime,
    EventInsert,
    EventPatch,
    InsertAttendee,
    InsertDateTime,
    PrivateProperties,
    Reminders,
)
from hub.connectors import BusyChange, OutboundEvent, ProviderCalendar

BOOKING_PROPERTY = "hub_booking_id"  # extendedProperties.private key naming the booking
NOT_BUSY_EVENT_TYPES = frozenset({"workingLocation"})  # "Home", "Office": a label, not a meeting


def event_id_for(booking_id: str) -> str:
    """The client-supplied Google event id of a booking: stable, and valid in Google's alphabet.

    Google allows base32hex characters (``[a-v0-9]``, 5 to 1024 of them, PROTOCOLS.md B); "hub"
    and lower-case hex digits are all inside it. 40 hex digits (160 bits) make collisions moot.
    """
    return "hub" + hashlib.sha256(booking_id.encode("utf-8")).hexdigest()[:40]


def zone(name: str | None) -> tzinfo | None:
    """The IANA zone called ``name``, or None when it is missing or unknown."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def busy_change(event: Event, calendar_zone: tzinfo) -> BusyChange:
    """One Google event as a busy block (or a removal). All-day dates are whole local days in
    ``calendar_zone`` (the calendar's IANA zone); ``end.date`` is exclusive."""
    gone = BusyChange(provider_event_id=event.id, busy=False)
    if event.status == "cancelled" or event.transparency == "transparent" or event.event_type in NOT_BUSY_EVENT_TYPES:
        return gone
    if any(attendee.is_self and attendee.response_status == "declined" for attendee in event.attendees):
        return gone
    if event.start is None or event.end is None:
        return gone
    start, end = _instant(event.start, calendar_zone), _instant(event.end, calendar_zone)
    if start is None or end is None or end <= start:
        return gone
    return BusyChange(provider_event_id=event.id, start=start, end=end, busy=True)


def _instant(when: EventDateTime, calendar_zone: tzinfo) -> datetime | None:
    if when.date_time:
        moment = datetime.fromisoformat(when.date_time)
        if moment.tzinfo is None:  # "A time zone offset is required unless ... timeZone"
            moment = moment.replace(tzinfo=zone(when.time_zone) or calendar_zone)
        return moment.astimezone(UTC)
    if when.date:
        midnight = datetime.combine(date.fromisoformat(when.date), time.min, tzinfo=calendar_zone)
        return midnight.astimezone(UTC)
    return None


def insert_body(event: OutboundEvent) -> EventInsert:
    """The ``events.insert`` body for a booking (shape of google_event_insert_request.json)."""
    local = ZoneInfo(event.timezone)
    return EventInsert(
        id=event_id_for(event.booking_id),
        summary=event.title,
        description=event.description or None,
        start=InsertDateTime(date_time=event.start.astimezone(local).isoformat(), time_zone=event.timezone),
        end=InsertDateTime(date_time=event.end.astimezone(local).isoformat(), time_zone=event.timezone),
        attendees=[InsertAttendee(email=email, display_name=name) for email, name in event.attendees],
        extended_properties=PrivateProperties(private={BOOKING_PROPERTY: event.booking_id}),
        reminders=Reminders(use_default=True),
    )


def patch_body(event: OutboundEvent) -> EventPatch:
    """The ``events.patch`` body for a booking's new state: times, title, description, attendees."""
    inserted = insert_body(event)
    return EventPatch(
        summary=inserted.summary,
        description=inserted.description,
        start=inserted.start,
        end=inserted.end,
        attendees=inserted.attendees,
    )


def send_updates(event: OutboundEvent) -> str:
    """``sendUpdates``: Google emails the attendees only when asked to; Hub sends its own invites."""
    return "all" if event.notify_attendees else "none"


def provider_calendar(entry: CalendarListEntry) -> ProviderCalendar:
    """A calendarList entry as Hub sees it; writable when the user owns it or may edit it."""
    return ProviderCalendar(
        provider_calendar_id=entry.id,
        name=entry.summary_override or entry.summary or entry.id,
        primary=entry.primary,
        timezone=entry.time_zone,
        writable=entry.access_role in ("owner", "writer"),
    )
