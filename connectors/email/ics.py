"""The iCalendar object of an invitation (RFC 5545, iTIP RFC 5546).

``build_ics()`` returns one VCALENDAR with ``METHOD:REQUEST`` for a confirmed booking or
``METHOD:CANCEL`` for a cancelled one, and one VEVENT whose ``UID`` is derived from the booking
id, so a calendar that received the request recognises the cancellation as the same event.
``SEQUENCE`` is the booking's (0 when created, higher after a cancellation), which tells clients
the cancellation supersedes the request. A booking with a conferencing link carries it as
``LOCATION`` and ``URL`` (what every client shows) and as an RFC 7986 ``CONFERENCE`` property
(``VALUE=URI;FEATURE=VIDEO``) for clients that offer a join button. Start and end are written as wall-clock times in the
booking's IANA zone with a ``TZID`` and the matching VTIMEZONE (UTC itself is written as UTC).
Lines end in CRLF and are folded at 75 octets.

A recurring booking is one event for the whole series (RFC 5546): the series' invitation is
one VEVENT with ``RRULE`` and an ``EXDATE`` per occurrence not booked, followed by a VEVENT per
moved occurrence and per occurrence with a conference link of its own (``RECURRENCE-ID``: the
rule's start of it; the link as ``LOCATION``/``URL``/``CONFERENCE``; a link every occurrence
shares is on the series' VEVENT instead); a message about one occurrence is
that occurrence's VEVENT alone, with the series' ``UID`` and its ``RECURRENCE-ID``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
from icalendar import Calendar, Event, vCalAddress, vUri

from connectors.email.invite import Invite, Person
from connectors.email.vtimezone import vtimezone
from hub.connectors import RepeatRule, SeriesPart

_DAYS = {"mon": "MO", "tue": "TU", "wed": "WE", "thu": "TH", "fri": "FR", "sat": "SA", "sun": "SU"}

PRODID = "-//Hub//Email connector//EN"


def _address(person: Person, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{person.email}")
    if person.name:
        address.params["CN"] = person.name
    for key, value in params.items():
        address.params[key.replace("_", "-")] = value
    return address


def _attendees(invite: Invite) -> list[vCalAddress]:
    """On a request: the host as chair (accepted), the other hosts of a team booking (accepted),
    then each guest asked to reply. On a cancellation: the guests being removed (the host alone
    when there are none)."""
    if invite.method == "REQUEST":
        chair = _address(invite.organizer, CUTYPE="INDIVIDUAL", ROLE="CHAIR", PARTSTAT="ACCEPTED")
        hosts = [
            _address(p, CUTYPE="INDIVIDUAL", ROLE="REQ-PARTICIPANT", PARTSTAT="ACCEPTED") for p in invite.other_hosts()
        ]
        guests = [
            _address(p, CUTYPE="INDIVIDUAL", ROLE="REQ-PARTICIPANT", PARTSTAT="NEEDS-ACTION", RSVP="TRUE")
            for p in invite.guests()
        ]
        return [chair, *hosts, *guests]
    removed = invite.guests() or (invite.organizer,)
    return [_address(p, CUTYPE="INDIVIDUAL", ROLE="REQ-PARTICIPANT") for p in removed]


def build_event(invite: Invite, zone: ZoneInfo) -> Event:
    event = Event()
    event.add("UID", invite.uid)
    event.add("DTSTAMP", invite.stamp.astimezone(UTC))
    event.add("SEQUENCE", invite.sequence)
    event.add("DTSTART", invite.start.astimezone(zone))
    event.add("DTEND", invite.end.astimezone(zone))
    _add_series(event, invite.series, zone)
    event.add("SUMMARY", invite.summary)
    if invite.cancellation_reason:
        event.add("DESCRIPTION", f"Cancelled: {invite.cancellation_reason}")
    event.add("ORGANIZER", _address(invite.organizer))
    for attendee in _attendees(invite):
        event.add("ATTENDEE", attendee)
    if invite.method == "REQUEST":
        event.add("STATUS", "CONFIRMED")
        event.add("TRANSP", "OPAQUE")
        if invite.join_url:
            event.add("LOCATION", invite.join_url)
            event.add("URL", vUri(invite.join_url))
            event.add(
                "CONFERENCE",
                vUri(invite.join_url),
                parameters={"VALUE": "URI", "FEATURE": "VIDEO", "LABEL": "Join the meeting"},
            )
    else:
        event.add("STATUS", "CANCELLED")
    return event


def _rrule(rule: RepeatRule) -> dict[str, object]:
    value: dict[str, object] = {"FREQ": rule.frequency.upper(), "INTERVAL": rule.interval}
    if rule.weekdays:
        value["BYDAY"] = [_DAYS[d] for d in rule.weekdays]
    if rule.count is not None:
        value["COUNT"] = rule.count
    elif rule.until is not None:
        value["UNTIL"] = rule.until.astimezone(UTC)  # UTC, as RFC 5545 wants with a TZID start
    return value


def _add_series(event: Event, series: SeriesPart | None, zone: ZoneInfo) -> None:
    """A series' ``RRULE`` and ``EXDATE``s, or one occurrence's ``RECURRENCE-ID``."""
    if series is None:
        return
    if series.recurrence_id is not None:
        event.add("RECURRENCE-ID", series.recurrence_id.astimezone(zone))
    if series.rule is not None:
        event.add("RRULE", _rrule(series.rule))
        for excluded in series.excluded:
            event.add("EXDATE", excluded.astimezone(zone))


def _overrides(invite: Invite) -> list[Invite]:
    """A whole series' overridden occurrences (moved, or with a link of their own), each as the
    occurrence it is (``RECURRENCE-ID``), with its own link."""
    if invite.series is None or invite.series.rule is None or invite.method != "REQUEST":
        return []
    return [
        msgspec.structs.replace(
            invite,
            start=m.start,
            end=m.end,
            join_url=m.join_url,
            series=SeriesPart(invite.series.series_id, recurrence_id=m.recurrence_id),
        )
        for m in invite.series.moved
    ]


def _span(invite: Invite, overrides: list[Invite]) -> tuple[datetime, datetime]:
    """The times the VTIMEZONE must cover: every occurrence of a series (it lasts at most a year)."""
    starts = [invite.start, *(o.start for o in overrides)]
    ends = [invite.end, *(o.end for o in overrides)]
    if invite.series is not None and invite.series.rule is not None:
        ends.append(invite.start + timedelta(days=366))
    return min(starts), max(ends)


def build_calendar(invite: Invite) -> Calendar:
    zone = ZoneInfo(invite.timezone)
    calendar = Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    calendar.add("METHOD", invite.method)
    event = build_event(invite, zone)
    overrides = _overrides(invite)
    if zone.key in event_tzids(event):  # UTC zones are written as UTC ("Z") and need none
        calendar.add_component(vtimezone(zone, *_span(invite, overrides)))
    calendar.add_component(event)
    for override in overrides:
        calendar.add_component(build_event(override, zone))
    return calendar


def event_tzids(event: Event) -> set[str]:
    return {str(event[name].params["TZID"]) for name in ("DTSTART", "DTEND") if "TZID" in event[name].params}


def build_ics(invite: Invite) -> bytes:
    """The invitation as iCalendar bytes (UTF-8, CRLF line ends, folded)."""
    return bytes(build_calendar(invite).to_ical())
