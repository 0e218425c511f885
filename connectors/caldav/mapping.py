"""Pure mapping between CalDAV calendar objects and Hub's types (no I/O).

Reading: one calendar object resource (one ``.ics``, possibly a whole recurring series with its
overrides) becomes the busy blocks it holds inside a window. ``recurring-ical-events`` expands
``RRULE``/``RDATE``, drops ``EXDATE``s and puts each ``RECURRENCE-ID`` override in the place of
the occurrence it replaces. Occurrences of a zoned series keep their local wall-clock time across
DST changes (09:00 Berlin is 08:00 UTC in winter and 07:00 UTC in summer). ``TRANSP:TRANSPARENT``
and ``STATUS:CANCELLED`` (the whole series or one override) do not block. All-day events and
floating times are read in the host's zone. Each block's id is the resource's href plus its start
(``<href>#<start UTC>``) and its ``item`` the href, so a changed resource replaces all its blocks.

Writing: a booking becomes one VCALENDAR with one VEVENT, ``UID`` ``<booking id>@hub`` (the UID
of the booking's email invitation too, so a calendar app sees one meeting), ``SEQUENCE`` the
booking's version (``OutboundEvent.sequence``, the SEQUENCE of its invitations too), times in the
booking's zone with the matching VTIMEZONE (``connectors.email.vtimezone``), and attendees
marked ``SCHEDULE-AGENT=CLIENT`` (RFC 6638 §7.1): Hub sends the invitations itself, the server
must not send its own.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import recurring_ical_events
from icalendar import Calendar, Event, vCalAddress

from connectors.email.ics import event_tzids
from connectors.email.vtimezone import vtimezone
from hub.connectors import BusyChange, OutboundEvent

PRODID: Final = "-//Hub//CalDAV connector//EN"


def uid(booking_id: str) -> str:
    return f"{booking_id}@hub"


def resource_name(booking_id: str) -> str:
    """The file name of the booking's resource in the calendar collection."""
    return f"hub-{booking_id}.ics"


def event_ics(event: OutboundEvent, stamp: datetime) -> bytes:
    """The booking as one ``.ics`` resource."""
    zone = ZoneInfo(event.timezone)
    vevent = Event()
    vevent.add("UID", uid(event.booking_id))
    vevent.add("DTSTAMP", stamp.astimezone(UTC))
    vevent.add("SEQUENCE", event.sequence)
    vevent.add("DTSTART", event.start.astimezone(zone))
    vevent.add("DTEND", event.end.astimezone(zone))
    vevent.add("SUMMARY", event.title)
    if event.description:
        vevent.add("DESCRIPTION", event.description)
    vevent.add("STATUS", "CONFIRMED")
    vevent.add("TRANSP", "OPAQUE")
    vevent.add("X-HUB-BOOKING-ID", event.booking_id)
    for email, name in event.attendees:
        attendee = vCalAddress(f"mailto:{email}")
        if name:
            attendee.params["CN"] = name
        attendee.params["ROLE"] = "REQ-PARTICIPANT"
        attendee.params["PARTSTAT"] = "NEEDS-ACTION"
        attendee.params["SCHEDULE-AGENT"] = "CLIENT"
        vevent.add("ATTENDEE", attendee)
    calendar = Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    if zone.key in event_tzids(vevent):
        calendar.add_component(vtimezone(zone, event.start, event.end))
    calendar.add_component(vevent)
    return bytes(calendar.to_ical())


def _moment(value: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return (value if value.tzinfo is not None else value.replace(tzinfo=zone)).astimezone(UTC)
    return datetime.combine(value, time(0), tzinfo=zone).astimezone(UTC)


def _end(component: Any, start: date | datetime) -> date | datetime:
    if "DTEND" in component:
        value: date | datetime = component["DTEND"].dt
        return value
    if "DURATION" in component:
        duration: timedelta = component["DURATION"].dt
        return start + duration
    return start + timedelta(days=1) if not isinstance(start, datetime) else start


def blocks(component: Any, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
    """The busy interval of one occurrence, or None when it does not block."""
    if str(component.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
        return None
    if str(component.get("STATUS", "")).upper() == "CANCELLED":
        return None
    if "DTSTART" not in component:
        return None
    start = component["DTSTART"].dt
    begin, finish = _moment(start, zone), _moment(_end(component, start), zone)
    return (begin, finish) if finish > begin else None


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def busy_changes(href: str, data: str | bytes, window: tuple[datetime, datetime], zone: str | None) -> list[BusyChange]:
    """The busy blocks of one resource inside ``window``, or a single removal for the resource
    when it holds none (so whatever Hub stored for it goes)."""
    tz = ZoneInfo(zone or "UTC")
    removal = [BusyChange(provider_event_id=href, busy=False, item=href)]
    try:
        calendar = Calendar.from_ical(data)
        occurrences = recurring_ical_events.of(calendar, components=["VEVENT"], skip_bad_series=True).between(*window)
    except (ValueError, KeyError, TypeError):  # unreadable data: nothing of it blocks
        return removal
    changes: dict[str, BusyChange] = {}
    for occurrence in occurrences:
        interval = blocks(occurrence, tz)
        if interval is None:
            continue
        start, end = interval
        key = f"{href}#{_stamp(start)}"
        changes[key] = BusyChange(provider_event_id=key, start=start, end=end, item=href)
    return list(changes.values()) or removal
