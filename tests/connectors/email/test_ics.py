"""The iCalendar object: what a calendar client reads from the invitation and the cancellation."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest
from icalendar import Calendar, Event

from connectors.email.ics import build_ics
from connectors.email.invite import Person
from connectors.email.vtimezone import _transitions
from hub.connectors import Moved, RepeatRule, SeriesPart
from tests.connectors.email.helpers import FIXTURES, make_invite


def parse(data: bytes) -> tuple[Calendar, Event]:
    calendar = Calendar.from_ical(data)
    assert isinstance(calendar, Calendar)
    (event,) = calendar.walk("VEVENT")
    assert isinstance(event, Event)
    return calendar, event


def attendees(event: Event) -> dict[str, dict[str, str]]:
    """``mailto`` address -> parameters of each ATTENDEE."""
    values = event.get("ATTENDEE")
    values = values if isinstance(values, list) else [values]
    return {str(v).removeprefix("mailto:"): dict(v.params) for v in values}


def test_request_has_what_rfc5546_requires() -> None:
    calendar, event = parse(build_ics(make_invite()))

    assert calendar["METHOD"] == "REQUEST"
    assert calendar["VERSION"] == "2.0"
    assert str(calendar["PRODID"]).startswith("-//")
    assert event["UID"] == "bkg_01jtest000000000000000000@hub"
    assert event["SEQUENCE"] == 0
    assert event["STATUS"] == "CONFIRMED"
    assert event["SUMMARY"] == "Intro call"
    assert event.decoded("DTSTAMP") == datetime(2030, 11, 20, 10, 15, 31, tzinfo=UTC)
    assert str(event["ORGANIZER"]) == "mailto:ada@example.com"
    assert event["ORGANIZER"].params["CN"] == "Ada Host"
    assert attendees(event) == {
        "ada@example.com": {"CN": "Ada Host", "CUTYPE": "INDIVIDUAL", "ROLE": "CHAIR", "PARTSTAT": "ACCEPTED"},
        "guest@example.com": {
            "CN": "Guest One",
            "CUTYPE": "INDIVIDUAL",
            "ROLE": "REQ-PARTICIPANT",
            "PARTSTAT": "NEEDS-ACTION",
            "RSVP": "TRUE",
        },
    }
    assert "DTEND" in event
    assert "DURATION" not in event


def test_times_are_wall_clock_times_in_the_bookings_zone_with_a_vtimezone() -> None:
    data = build_ics(make_invite())
    calendar, event = parse(data)

    assert b"DTSTART;TZID=Europe/Berlin:20301202T090000\r\n" in data
    assert b"DTEND;TZID=Europe/Berlin:20301202T093000\r\n" in data
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
    start, end = event.decoded("DTSTART"), event.decoded("DTEND")
    assert (start.time(), end.time()) == (time(9, 0), time(9, 30))
    assert start.astimezone(UTC) == datetime(2030, 12, 2, 8, 0, tzinfo=UTC)
    (vtimezone,) = calendar.walk("VTIMEZONE")
    assert vtimezone["TZID"] == "Europe/Berlin"
    assert calendar.get_missing_tzids() == set()
    # The VTIMEZONE comes before the event that refers to it.
    assert data.index(b"BEGIN:VTIMEZONE") < data.index(b"BEGIN:VEVENT")


def test_summer_booking_uses_summer_time() -> None:
    invite = make_invite(start=datetime(2030, 7, 1, 7, tzinfo=UTC), end=datetime(2030, 7, 1, 8, tzinfo=UTC))
    _, event = parse(build_ics(invite))
    assert event["DTSTART"].to_ical() == b"20300701T090000"  # 07:00Z is 09:00 CEST


def test_utc_bookings_are_written_in_utc_without_a_vtimezone() -> None:
    data = build_ics(make_invite(timezone="UTC"))
    calendar, event = parse(data)
    assert b"DTSTART:20301202T080000Z\r\n" in data
    assert calendar.walk("VTIMEZONE") == []
    assert event.decoded("DTSTART") == datetime(2030, 12, 2, 8, 0, tzinfo=UTC)


def test_other_zones_keep_their_own_wall_time() -> None:
    invite = make_invite(timezone="America/New_York")
    data = build_ics(invite)
    assert b"DTSTART;TZID=America/New_York:20301202T030000\r\n" in data
    assert b"TZID:America/New_York\r\n" in data


def test_cancellation_keeps_the_uid_and_raises_the_sequence() -> None:
    request = make_invite()
    cancel = msgspec.structs.replace(request, method="CANCEL", sequence=1, cancellation_reason="Host is ill")
    _, first = parse(build_ics(request))
    calendar_b, second = parse(build_ics(cancel))

    assert calendar_b["METHOD"] == "CANCEL"
    assert second["UID"] == first["UID"]
    assert second["SEQUENCE"] > first["SEQUENCE"]
    assert second["STATUS"] == "CANCELLED"
    assert second.decoded("DTSTART") == first.decoded("DTSTART")
    assert "Host is ill" in str(second["DESCRIPTION"])
    # RFC 5546 §3.2.5: the attendees being removed, without a request to reply.
    assert attendees(second) == {
        "guest@example.com": {"CN": "Guest One", "CUTYPE": "INDIVIDUAL", "ROLE": "REQ-PARTICIPANT"}
    }


def test_cancellation_without_guests_still_names_an_attendee() -> None:
    cancel = make_invite(method="CANCEL", sequence=1, attendees=())
    _, event = parse(build_ics(cancel))
    assert list(attendees(event)) == ["ada@example.com"]


def test_the_host_listed_as_attendee_appears_once() -> None:
    invite = make_invite(attendees=(Person("ADA@example.com"), Person("guest@example.com")))
    _, event = parse(build_ics(invite))
    assert sorted(attendees(event)) == ["ada@example.com", "guest@example.com"]


def test_untitled_booking_gets_a_readable_summary() -> None:
    _, event = parse(build_ics(make_invite(title="")))
    assert event["SUMMARY"] == "Meeting with Ada Host"


def test_lines_are_crlf_and_folded_at_75_octets() -> None:
    invite = make_invite(
        title=(
            "Quartalsplanung für das Büro in Düsseldorf \N{EN DASH} bitte pünktlich, wir haben viel vor " * 2
        ).strip(),
        attendees=(Person("a.very.long.address.for.folding@subdomain.example.com", "Zoë Ä. Långnamn-Müller"),),
    )
    data = build_ics(invite)
    assert data.endswith(b"\r\n")
    lines = data.split(b"\r\n")[:-1]
    assert all(b"\n" not in line and b"\r" not in line for line in lines)
    assert max(len(line) for line in lines) <= 75
    assert any(line.startswith(b" ") for line in lines)  # something was folded
    lines[0].decode("utf-8")
    _, event = parse(data)
    assert str(event["SUMMARY"]) == invite.title


# --- conventions of the shared fixtures (ical_request.ics / ical_cancel.ics) -------------------


def fixture_like(**overrides: Any) -> bytes:
    """The fixtures' meeting: 10 March 2026, 10:00-11:00 in Berlin, Alice organizing, Bob invited."""
    invite = make_invite(
        start=datetime(2026, 3, 10, 9, tzinfo=UTC),
        end=datetime(2026, 3, 10, 10, tzinfo=UTC),
        title="Quarterly planning",
        organizer=Person("alice@example.com", "Alice Example"),
        attendees=(Person("bob@example.org", "Bob Example"),),
        stamp=datetime(2026, 3, 2, 10, 15, 31, tzinfo=UTC),
    )
    return build_ics(msgspec.structs.replace(invite, **overrides))


@pytest.mark.parametrize(
    ("fixture", "overrides"),
    [("ical_request.ics", {}), ("ical_cancel.ics", {"method": "CANCEL", "sequence": 1})],
)
def test_matches_the_fixture_conventions(fixture: str, overrides: dict[str, Any]) -> None:
    expected_calendar, expected = parse((FIXTURES / fixture).read_bytes())
    calendar, event = parse(fixture_like(**overrides))

    for name in ("METHOD", "VERSION", "CALSCALE"):
        assert calendar[name] == expected_calendar[name]
    for name in ("SEQUENCE", "STATUS", "SUMMARY"):
        assert event[name] == expected[name], name
    for name in ("DTSTART", "DTEND"):
        assert event[name].to_ical() == expected[name].to_ical()
        assert event[name].params["TZID"] == expected[name].params["TZID"]
    assert str(event["ORGANIZER"]) == str(expected["ORGANIZER"])
    assert dict(event["ORGANIZER"].params) == dict(expected["ORGANIZER"].params)
    assert attendees(event) == attendees(expected)
    # Required by RFC 5546 for both methods, present in the fixtures and here.
    for name in ("UID", "DTSTAMP", "ORGANIZER", "ATTENDEE", "SEQUENCE", "DTSTART"):
        assert name in event
        assert name in expected


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def observances(calendar: Calendar) -> list[tuple[str, datetime, str, str]]:
    """(kind, local onset, TZOFFSETFROM, TZOFFSETTO) of every VTIMEZONE observance."""
    found = []
    for component in calendar.walk():
        if component.name in ("STANDARD", "DAYLIGHT"):
            found.append(
                (
                    component.name,
                    component.decoded("DTSTART"),
                    _text(component["TZOFFSETFROM"].to_ical()),
                    _text(component["TZOFFSETTO"].to_ical()),
                )
            )
    return found


def test_vtimezone_onsets_are_local_times_before_the_change_as_in_the_fixture() -> None:
    """Berlin's summer time starts at 02:00 and ends at 03:00 local time, as the fixture's rules
    (and RFC 5545's examples) say: DTSTART is read in the TZOFFSETFROM offset."""
    expected, _ = parse((FIXTURES / "ical_request.ics").read_bytes())
    rules = {kind: (onset.time(), frm, to) for kind, onset, frm, to in observances(expected)}
    calendar, _ = parse(fixture_like())
    changes = [o for o in observances(calendar) if o[2] != o[3]]

    assert [(kind, onset.date()) for kind, onset, _, _ in changes] == [
        ("DAYLIGHT", date(2026, 3, 29)),
        ("STANDARD", date(2026, 10, 25)),
    ]
    for kind, onset, frm, to in changes:
        assert (onset.time(), frm, to) == rules[kind]


# --- the VTIMEZONE tells every instant's offset correctly ---------------------------------------


def _offset(text: str) -> timedelta:
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    return sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4]), seconds=int(digits[4:6] or 0))


def offset_by_vtimezone(calendar: Calendar, instant: datetime) -> timedelta:
    """The offset a strict RFC 5545 reader derives for ``instant`` from the VTIMEZONE alone:
    the observance with the latest onset (DTSTART read in TZOFFSETFROM) not after it."""
    onsets = [(onset.replace(tzinfo=UTC) - _offset(frm), _offset(to)) for _, onset, frm, to in observances(calendar)]
    started = [(at, to) for at, to in onsets if at <= instant]
    assert started, f"{instant} is before the VTIMEZONE's first observance"
    return max(started)[1]


@pytest.mark.parametrize(
    "zone_name",
    [
        "Europe/Berlin",
        "America/New_York",
        "Australia/Sydney",  # summer time at the turn of the year
        "Australia/Lord_Howe",  # a 30-minute change
        "Europe/Dublin",  # "negative" summer time in tzdata
        "America/Santiago",
        "Asia/Kolkata",  # no changes at all
    ],
)
def test_vtimezone_gives_every_instant_of_the_covered_years_the_zones_offset(zone_name: str) -> None:
    zone = ZoneInfo(zone_name)
    # A booking across New Year, so the VTIMEZONE spans two years.
    start = datetime(2030, 12, 31, 23, 0, tzinfo=zone)
    invite = make_invite(timezone=zone_name, start=start, end=start + timedelta(hours=2))
    calendar, event = parse(build_ics(invite))

    covered_from = datetime(2030, 1, 1, tzinfo=zone).astimezone(UTC)
    covered_to = datetime(2032, 1, 1, tzinfo=zone).astimezone(UTC)
    instant = covered_from
    checked = 0
    while instant < covered_to:
        # Every hour, and each side of every change.
        expected = instant.astimezone(zone).utcoffset()
        assert offset_by_vtimezone(calendar, instant) == expected, (zone_name, instant)
        following = instant + timedelta(hours=1)
        if following.astimezone(zone).utcoffset() != expected:
            low, high = instant, following
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if middle.astimezone(zone).utcoffset() == expected else (low, middle)
            for edge in (low, high):
                assert offset_by_vtimezone(calendar, edge) == edge.astimezone(zone).utcoffset(), (zone_name, edge)
        instant = following
        checked += 1
    assert checked > 17000
    # The event's own wall time resolves to the booking's instant through the VTIMEZONE.
    wall = event["DTSTART"].dt.replace(tzinfo=None)
    assert event["DTSTART"].to_ical() == b"20301231T230000"
    assert wall - offset_by_vtimezone(calendar, invite.start) == invite.start.astimezone(UTC).replace(tzinfo=None)


def test_a_remembered_vtimezone_is_the_one_computed_afresh() -> None:
    """The zone's changes are remembered per zone and span; an invitation built from them is
    byte for byte the one built after forgetting them, and building one does not change them."""
    invite = make_invite(timezone="Europe/Berlin")
    _transitions.cache_clear()
    fresh = build_ics(invite)
    assert _transitions.cache_info().misses == 1
    again = build_ics(invite)
    assert _transitions.cache_info().hits == 1
    assert again == fresh
    (vtimezone,) = parse(again)[0].walk("VTIMEZONE")
    assert len(vtimezone.subcomponents) == 3  # the year's start, summer time, winter time


def test_a_team_booking_lists_every_host_as_accepted() -> None:
    invite = make_invite(co_hosts=(Person("bo@example.com", "Bo Host"), Person("ADA@example.com", "Ada again")))
    _, event = parse(build_ics(invite))
    found = attendees(event)
    assert set(found) == {"ada@example.com", "bo@example.com", "guest@example.com"}  # each address once
    assert found["ada@example.com"]["ROLE"] == "CHAIR"
    assert (found["bo@example.com"]["ROLE"], found["bo@example.com"]["PARTSTAT"]) == ("REQ-PARTICIPANT", "ACCEPTED")
    assert found["guest@example.com"]["PARTSTAT"] == "NEEDS-ACTION"
    assert str(event["ORGANIZER"]) == "mailto:ada@example.com"


WEEK = timedelta(days=7)
SERIES_START = datetime(2030, 12, 2, 8, 0, tzinfo=UTC)


def _weekly(moved: tuple[Moved, ...], join_url: str | None = None) -> bytes:
    part = SeriesPart("srs_01jtest000000000000000000", rule=RepeatRule("weekly", 1, count=3), moved=moved)
    return build_ics(make_invite(series=part, join_url=join_url))


def test_a_series_whose_occurrences_have_their_own_links_carries_each_on_its_override() -> None:
    links = [f"https://meet.google.com/aaa-bbbb-cc{i}" for i in range(3)]
    moved = tuple(
        Moved(SERIES_START + i * WEEK, SERIES_START + i * WEEK, SERIES_START + i * WEEK + timedelta(minutes=30), link)
        for i, link in enumerate(links)
    )
    calendar = Calendar.from_ical(_weekly(moved))
    master, *overrides = calendar.walk("VEVENT")
    assert "RRULE" in master
    assert "LOCATION" not in master
    assert "CONFERENCE" not in master
    assert [o.decoded("RECURRENCE-ID").astimezone(UTC) for o in overrides] == [m.recurrence_id for m in moved]
    for override, link in zip(overrides, links, strict=True):
        assert str(override["UID"]) == str(master["UID"])
        assert (str(override["LOCATION"]), str(override["URL"]), str(override["CONFERENCE"])) == (link, link, link)
        assert override["CONFERENCE"].params["FEATURE"] == "VIDEO"


def test_a_series_sharing_one_link_carries_it_on_the_series_event() -> None:
    link = "https://meet.google.com/aaa-bbbb-ccc"
    calendar = Calendar.from_ical(_weekly((), join_url=link))
    (master,) = calendar.walk("VEVENT")
    assert (str(master["LOCATION"]), str(master["CONFERENCE"])) == (link, link)
