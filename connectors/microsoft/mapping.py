"""Pure mapping between Graph's wire shapes and Hub's values. No I/O.

Reading (Graph event -> ``BusyChange``):

* ``@removed`` (deleted, or moved out of the delta window), ``isCancelled``, ``showAs`` of
  ``free`` / ``workingElsewhere``, and events the user declined are not busy: core forgets them.
* Series masters are skipped: delta over ``calendarView`` returns each occurrence on its own.
* ``start``/``end`` carry a wall-clock ``dateTime`` without offset plus a ``timeZone``: Windows
  names ("W. Europe Standard Time") are translated through the CLDR table, IANA names pass
  through, and an unknown name is read as UTC (Graph's own default; Hub asks for UTC anyway with
  ``Prefer: outlook.timezone="UTC"``).
* All-day events are midnight to midnight of their dates, in ``all_day_zone`` when the caller
  knows the calendar's zone, else in the zone Graph gave.

Writing (``OutboundEvent`` -> create body): local wall-clock times with the booking's IANA zone,
a ``transactionId`` derived from the booking id (Graph's retry dedup), and the booking id as a
single-value extended property so a retry can find an event created earlier.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, time, timedelta, tzinfo
from functools import cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON  # the full CLDR table (icalendar >= 6)

from connectors.microsoft.schemas import (
    AttendeeIn,
    Calendar,
    DateTimeTimeZone,
    EmailAddress,
    Event,
    EventCreate,
    EventUpdate,
    ExtendedProperty,
    ItemBody,
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

# A fixed GUID namespacing Hub's extended property (uuid5 of Hub's URL); never change it, or
# events written before the change can no longer be found by booking id.
BOOKING_PROPERTY_ID: Final = "String {2954c78f-da85-5bc8-a8e7-21ed2ebd2419} Name HubBookingId"
TRANSACTION_PREFIX: Final = "hub-"
MAX_TRANSACTION_ID: Final = 64

_NOT_BUSY_SHOW_AS: Final = frozenset({"free", "workingelsewhere"})
TEAMS: Final = "teamsForBusiness"
# Graph's online meeting providers, by Hub's name (``hub.connectors.ConferenceKind``)
MEETING_PROVIDERS: Final[dict[ConferenceKind, str]] = {"teams": TEAMS}
# attendees[].status.response -> Hub's attendee response ("organizer" is not a guest's answer)
RESPONSES: Final[dict[str, AttendeeResponse]] = {
    "none": "needs_action",
    "notResponded": "needs_action",
    "accepted": "accepted",
    "declined": "declined",
    "tentativelyAccepted": "tentative",
}

# Windows zone names Graph commonly returns (CLDR windowsZones "001" territory). The full CLDR
# table shipped with ``icalendar`` (a Hub dependency) is layered over this when importable.
_WINDOWS_ZONES: Final[dict[str, str]] = {
    "UTC": "UTC",
    "Coordinated Universal Time": "UTC",
    "tzone://Microsoft/Utc": "UTC",
    "Greenwich Standard Time": "Atlantic/Reykjavik",
    "GMT Standard Time": "Europe/London",
    "W. Europe Standard Time": "Europe/Berlin",
    "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw",
    "Romance Standard Time": "Europe/Paris",
    "E. Europe Standard Time": "Europe/Chisinau",
    "FLE Standard Time": "Europe/Kiev",
    "GTB Standard Time": "Europe/Bucharest",
    "Russian Standard Time": "Europe/Moscow",
    "Turkey Standard Time": "Europe/Istanbul",
    "Israel Standard Time": "Asia/Jerusalem",
    "South Africa Standard Time": "Africa/Johannesburg",
    "Egypt Standard Time": "Africa/Cairo",
    "Arabian Standard Time": "Asia/Dubai",
    "Arab Standard Time": "Asia/Riyadh",
    "Iran Standard Time": "Asia/Tehran",
    "Pakistan Standard Time": "Asia/Karachi",
    "India Standard Time": "Asia/Kolkata",
    "Nepal Standard Time": "Asia/Kathmandu",
    "Bangladesh Standard Time": "Asia/Dhaka",
    "SE Asia Standard Time": "Asia/Bangkok",
    "China Standard Time": "Asia/Shanghai",
    "Singapore Standard Time": "Asia/Singapore",
    "Taipei Standard Time": "Asia/Taipei",
    "Tokyo Standard Time": "Asia/Tokyo",
    "Korea Standard Time": "Asia/Seoul",
    "Cen. Australia Standard Time": "Australia/Adelaide",
    "AUS Central Standard Time": "Australia/Darwin",
    "E. Australia Standard Time": "Australia/Brisbane",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "W. Australia Standard Time": "Australia/Perth",
    "New Zealand Standard Time": "Pacific/Auckland",
    "Hawaiian Standard Time": "Pacific/Honolulu",
    "Alaskan Standard Time": "America/Anchorage",
    "Pacific Standard Time": "America/Los_Angeles",
    "US Mountain Standard Time": "America/Phoenix",
    "Mountain Standard Time": "America/Denver",
    "Central Standard Time": "America/Chicago",
    "Central America Standard Time": "America/Guatemala",
    "Eastern Standard Time": "America/New_York",
    "Atlantic Standard Time": "America/Halifax",
    "Newfoundland Standard Time": "America/St_Johns",
    "SA Pacific Standard Time": "America/Bogota",
    "Pacific SA Standard Time": "America/Santiago",
    "Argentina Standard Time": "America/Buenos_Aires",
    "E. South America Standard Time": "America/Sao_Paulo",
    "Mexico Standard Time": "America/Mexico_City",
    "Central Standard Time (Mexico)": "America/Mexico_City",
}


@cache
def _windows_zones() -> dict[str, str]:
    table = dict(_WINDOWS_ZONES)
    table.update(WINDOWS_TO_OLSON)
    table.update({"UTC": "UTC"})
    return table


@cache
def zone(name: str | None) -> tzinfo | None:
    """The zone a Graph ``timeZone`` names (Windows or IANA), or None when it is missing or
    unknown; callers read such times in UTC, Graph's own default."""
    if not name:
        return None
    iana = _windows_zones().get(name.strip(), name.strip())
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def instant(value: DateTimeTimeZone) -> datetime:
    """Graph's ``{dateTime, timeZone}`` as an aware UTC datetime (fold 0 in a DST overlap)."""
    parsed = datetime.fromisoformat(value.date_time)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone(value.time_zone) or UTC)
    return parsed.astimezone(UTC)


def _midnight(value: DateTimeTimeZone, zone_name: str | None) -> datetime:
    day = datetime.fromisoformat(value.date_time).date()
    return datetime.combine(day, time(0), tzinfo=zone(zone_name) or UTC).astimezone(UTC)


def is_not_busy(event: Event) -> bool:
    declined = event.response_status is not None and event.response_status.response == "declined"
    return event.is_cancelled or declined or (event.show_as or "").lower() in _NOT_BUSY_SHOW_AS


def provider_calendar(item: Calendar) -> ProviderCalendar:
    """A Graph calendar as Hub sees it: ``isDefaultCalendar`` is primary, ``canEdit`` writable,
    and Teams meetings where ``allowedOnlineMeetingProviders`` has ``teamsForBusiness``."""
    allowed = item.allowed_online_meeting_providers
    kinds = [kind for kind, name in MEETING_PROVIDERS.items() if name in allowed]
    kinds.sort(key=lambda kind: MEETING_PROVIDERS[kind] != item.default_online_meeting_provider)
    return ProviderCalendar(
        provider_calendar_id=item.id,
        name=item.name,
        primary=bool(item.is_default_calendar),
        writable=item.can_edit is not False,
        conferencing=tuple(kinds),
    )


def conference_state(event: Event) -> ConferenceState | None:
    """A Teams meeting: ``ready`` once ``onlineMeeting.joinUrl`` is there, else ``pending``."""
    if not event.is_online_meeting or event.online_meeting_provider not in (None, TEAMS):
        return None
    link = event.online_meeting.join_url if event.online_meeting is not None else None
    return ConferenceState(kind="teams", status="ready" if link else "pending", join_url=link)


def attendee_responses(event: Event) -> tuple[tuple[str, AttendeeResponse], ...]:
    """The guests' answers (``status.response``); the organizer's own entry is left out."""
    found: list[tuple[str, AttendeeResponse]] = []
    for attendee in event.attendees:
        address = attendee.email_address.address if attendee.email_address else None
        response = RESPONSES.get(attendee.status.response or "") if attendee.status else None
        if address and response is not None:
            found.append((address, response))
    return tuple(found)


def event_state(event: Event) -> EventState:
    """An event Hub wrote, as read back (``GET /me/events/{id}``)."""
    return EventState(
        provider_event_id=event.id,
        start=instant(event.start) if event.start is not None else None,
        end=instant(event.end) if event.end is not None else None,
        cancelled=event.is_cancelled,
        attendees=attendee_responses(event),
        conference=conference_state(event),
    )


def delta_state(event: Event) -> EventState | None:
    """A delta item as an event's state: ``@removed`` with reason ``deleted`` is a deleted event;
    one that only left the window (``changed``) and series masters say nothing."""
    if event.removed is not None:
        deleted = event.removed.reason == "deleted"
        return EventState(provider_event_id=event.id, cancelled=True) if deleted else None
    if event.type == "seriesMaster" or event.start is None or event.end is None:
        return None
    return event_state(event)


def busy_change(event: Event, *, all_day_zone: str | None = None) -> BusyChange | None:
    """What one delta item means for busy times; None for items that carry no busy time."""
    if event.removed is not None:
        return BusyChange(provider_event_id=event.id, busy=False)
    if event.type == "seriesMaster":
        return None
    if is_not_busy(event):
        return BusyChange(provider_event_id=event.id, busy=False)
    if event.start is None or event.end is None:
        return None
    if event.is_all_day:
        zone_name = all_day_zone or event.start.time_zone
        start, end = _midnight(event.start, zone_name), _midnight(event.end, zone_name)
        if end <= start:  # an all-day event covers at least its day
            end = start + timedelta(days=1)
    else:
        start, end = instant(event.start), instant(event.end)
        end = max(end, start)
    return BusyChange(provider_event_id=event.id, start=start, end=end, busy=True)


# --- writing -----------------------------------------------------------------------------------


def transaction_id(booking_id: str) -> str:
    """Graph's client-supplied dedup id for the booking: ``hub-<booking id>`` (hashed if long)."""
    candidate = TRANSACTION_PREFIX + booking_id
    if len(candidate) <= MAX_TRANSACTION_ID:
        return candidate
    return TRANSACTION_PREFIX + hashlib.sha256(booking_id.encode()).hexdigest()[:40]


def _local(moment: datetime, zone_name: str) -> tuple[str, str]:
    try:
        tz, name = ZoneInfo(zone_name), zone_name
    except (ZoneInfoNotFoundError, ValueError):
        tz, name = ZoneInfo("UTC"), "UTC"
    wall = moment.astimezone(tz).replace(tzinfo=None, microsecond=0)
    return wall.isoformat(), name


def create_body(event: OutboundEvent) -> EventCreate:
    """The ``POST /me/calendars/{id}/events`` body for a booking.

    Graph sends a meeting request to every attendee of an event it creates, so attendees are
    added only when ``notify_attendees`` is set; otherwise (the email connector sends the
    invitations) they are listed in the body so the host still sees who is coming.
    """
    start, start_zone = _local(event.start, event.timezone)
    end, end_zone = _local(event.end, event.timezone)
    meeting = MEETING_PROVIDERS.get(event.conference) if event.conference else None
    content = event.description
    people: list[AttendeeIn] | msgspec.UnsetType = msgspec.UNSET
    if event.notify_attendees:
        people = [
            AttendeeIn(email_address=EmailAddress(address=email, name=name or email), type="required")
            for email, name in event.attendees
        ]
    elif event.attendees:
        listed = "\n".join(f"- {name} <{email}>" if name else f"- {email}" for email, name in event.attendees)
        content = f"{content}\n\nAttendees:\n{listed}".strip()
    return EventCreate(
        subject=event.title,
        start=DateTimeTimeZone(date_time=start, time_zone=start_zone),
        end=DateTimeTimeZone(date_time=end, time_zone=end_zone),
        show_as="busy",
        is_online_meeting=meeting is not None,
        allow_new_time_proposals=False,
        transaction_id=transaction_id(event.booking_id),
        single_value_extended_properties=[ExtendedProperty(id=BOOKING_PROPERTY_ID, value=event.booking_id)],
        body=ItemBody(content_type="text", content=content),
        attendees=people,
        online_meeting_provider=meeting if meeting is not None else msgspec.UNSET,
    )


def update_body(event: OutboundEvent) -> EventUpdate:
    """The ``PATCH /me/events/{id}`` body for a booking's new state, zones as ``create_body``'s.
    An online meeting's body is left alone: Graph wrote the join details into it, and neither
    ``isOnlineMeeting`` nor the meeting is sent, so the event keeps its meeting and link."""
    created = create_body(event)
    return EventUpdate(
        subject=created.subject,
        start=created.start,
        end=created.end,
        body=msgspec.UNSET if created.is_online_meeting else created.body,
        attendees=created.attendees,
    )


def booking_filter(booking_id: str) -> str:
    """The ``$filter`` finding the event written for ``booking_id`` by its extended property."""
    quoted = booking_id.replace("'", "''")
    return f"singleValueExtendedProperties/Any(ep: ep/id eq '{BOOKING_PROPERTY_ID}' and ep/value eq '{quoted}')"
