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
    ConferenceData,
    ConferenceSolutionKey,
    CreateConferenceRequest,
    Event,
    EventDateTime,
    EventInsert,
    EventPatch,
    InsertAttendee,
    InsertDateTime,
    PrivateProperties,
    Reminders,
)
from hub.connectors import (
    AttendeeResponse,
    BusyChange,
    ConferenceKind,
    ConferenceState,
    EventState,
    OutboundEvent,
    ProviderCalendar,
)

BOOKING_PROPERTY = "hub_booking_id"  # extendedProperties.private key naming the booking
NOT_BUSY_EVENT_TYPES = frozenset({"workingLocation"})  # "Home", "Office": a label, not a meeting
MEET = "hangoutsMeet"  # Google's conferenceSolutionKey.type of Google Meet
# Google's conference solutions, by Hub's name (``hub.connectors.ConferenceKind``)
SOLUTIONS: dict[ConferenceKind, str] = {"google_meet": MEET}
# attendees[].responseStatus -> Hub's attendee response
RESPONSES: dict[str, AttendeeResponse] = {
    "needsAction": "needs_action",
    "accepted": "accepted",
    "declined": "declined",
    "tentative": "tentative",
}


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


def conference_request_id(booking_id: str) -> str:
    """``conferenceData.createRequest.requestId`` of a booking: the same for every attempt, so
    Google ignores a repeated request instead of making a second conference."""
    return "hub-" + hashlib.sha256(f"conference:{booking_id}".encode()).hexdigest()[:32]


def conference_state(event: Event) -> ConferenceState | None:
    """The event's Meet conference: ``pending`` while Google makes it, ``ready`` with the
    ``video`` entry point's URI (or ``hangoutLink``), ``failed`` on ``failure``; None without one."""
    data = event.conference_data
    if data is None and not event.hangout_link:
        return None
    status = data.create_request.status if data is not None and data.create_request is not None else None
    video = next((p.uri for p in (data.entry_points if data else []) if p.entry_point_type == "video" and p.uri), None)
    link = video or event.hangout_link
    if link:
        return ConferenceState(kind="google_meet", status="ready", join_url=link)
    if status is not None and status.status_code == "failure":
        return ConferenceState(kind="google_meet", status="failed", error="Google could not create the conference")
    return ConferenceState(kind="google_meet", status="pending")


def attendee_responses(event: Event) -> tuple[tuple[str, AttendeeResponse], ...]:
    """The guests' answers (``responseStatus``), the calendar's owner and the organizer left out."""
    return tuple(
        (a.email, RESPONSES[a.response_status])
        for a in event.attendees
        if a.email and not a.is_self and not a.organizer and a.response_status in RESPONSES
    )


def event_state(event: Event, calendar_zone: tzinfo) -> EventState:
    """An event as read back (``events.get``, or an item of ``events.list``); a deleted one
    (``status: cancelled``, which an incremental list returns for deletions) is ``cancelled``."""
    if event.status == "cancelled":
        return EventState(provider_event_id=event.id, cancelled=True)
    start = _instant(event.start, calendar_zone) if event.start is not None else None
    end = _instant(event.end, calendar_zone) if event.end is not None else None
    return EventState(
        provider_event_id=event.id,
        start=start,
        end=end,
        attendees=attendee_responses(event),
        conference=conference_state(event),
    )


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
        conference_data=_conference_request(event),
    )


def _conference_request(event: OutboundEvent) -> ConferenceData | None:
    solution = SOLUTIONS.get(event.conference) if event.conference else None
    if solution is None:
        return None
    return ConferenceData(
        create_request=CreateConferenceRequest(
            request_id=conference_request_id(event.booking_id),
            conference_solution_key=ConferenceSolutionKey(type=solution),
        )
    )


def conference_version(event: OutboundEvent) -> str:
    """``conferenceDataVersion``: 1 when the insert asks for a conference (0 ignores it)."""
    return "1" if event.conference in SOLUTIONS else "0"


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
    allowed = entry.conference_properties.allowed_conference_solution_types if entry.conference_properties else []
    return ProviderCalendar(
        provider_calendar_id=entry.id,
        name=entry.summary_override or entry.summary or entry.id,
        primary=entry.primary,
        timezone=entry.time_zone,
        writable=entry.access_role in ("owner", "writer"),
        conferencing=tuple(kind for kind, solution in SOLUTIONS.items() if solution in allowed),
    )
