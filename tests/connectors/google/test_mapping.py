"""Pure mapping (PROTOCOLS.md B): Google events to busy blocks, bookings to insert bodies."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

from connectors.google.mapping import busy_change, event_id_for, insert_body, provider_calendar, send_updates
from connectors.google.schemas import CalendarListPage, Event, EventsPage
from hub.connectors import BusyChange, ConferenceKind, OutboundEvent, ProviderCalendar
from tests.connectors.google.helpers import fixture

BERLIN = ZoneInfo("Europe/Berlin")


def event(raw: dict[str, Any]) -> Event:
    return msgspec.convert(raw, Event)


def item(name: str, event_id: str) -> dict[str, Any]:
    return next(raw for raw in fixture(name)["items"] if raw["id"] == event_id)


def booking(**changes: Any) -> OutboundEvent:
    values: dict[str, Any] = {
        "booking_id": "bkg_01J8ZQ4W3X5Y6Z7A8B9C0D1E2F",
        "title": "Intro call",
        "start": datetime(2026, 3, 12, 14, 0, tzinfo=UTC),
        "end": datetime(2026, 3, 12, 14, 30, tzinfo=UTC),
        "timezone": "Europe/Berlin",
        "attendees": (("bob@example.org", None),),
    }
    return OutboundEvent(**{**values, **changes})


def test_whole_fixture_pages_decode() -> None:
    for name in ("google_events_list_full_sync_page1", "google_events_list_full_sync_page2_last"):
        page = msgspec.convert(fixture(name), EventsPage)
        assert page.time_zone == "Europe/Berlin"
    incremental = msgspec.convert(fixture("google_events_list_incremental"), EventsPage)
    assert [e.status for e in incremental.items] == ["confirmed", "confirmed", "confirmed", "cancelled", "cancelled"]
    assert incremental.items[1].attendees[0].is_self


def test_a_timed_event_is_busy_in_utc() -> None:
    raw = item("google_events_list_full_sync_page1", "5f0p3s1nq2r7ab8cd9ef0gh1ij")
    assert busy_change(event(raw), BERLIN) == BusyChange(
        provider_event_id="5f0p3s1nq2r7ab8cd9ef0gh1ij",
        start=datetime(2026, 3, 10, 9, 0, tzinfo=UTC),
        end=datetime(2026, 3, 10, 10, 0, tzinfo=UTC),
    )


def test_a_local_time_without_offset_is_read_in_its_time_zone() -> None:
    raw = item("google_events_list_incremental", "5f0p3s1nq2r7ab8cd9ef0gh1ij")
    raw["start"] = {"dateTime": "2026-07-10T14:00:00", "timeZone": "America/New_York"}
    raw["end"] = {"dateTime": "2026-07-10T15:00:00", "timeZone": "America/New_York"}
    change = busy_change(event(raw), BERLIN)
    assert change.start == datetime(2026, 7, 10, 18, 0, tzinfo=UTC)  # EDT, not the calendar's zone
    assert change.end == datetime(2026, 7, 10, 19, 0, tzinfo=UTC)


def test_an_all_day_event_is_the_whole_local_day_with_an_exclusive_end() -> None:
    raw = item("google_events_list_incremental", "2k4m6o8q0s2u4a6c8e0g2i4k6m")
    del raw["transparency"]  # the fixture's offsite is marked free; as a busy day:
    change = busy_change(event(raw), BERLIN)
    assert change.busy
    assert change.start == datetime(2026, 3, 19, 23, 0, tzinfo=UTC)  # 2026-03-20 00:00 in Berlin (CET)
    assert change.end == datetime(2026, 3, 20, 23, 0, tzinfo=UTC)  # end date 2026-03-21 is exclusive


def test_an_all_day_event_across_a_dst_change_follows_the_zone() -> None:
    raw = {"id": "allday0dst", "start": {"date": "2026-03-28"}, "end": {"date": "2026-03-30"}}
    change = busy_change(event(raw), BERLIN)
    assert change.start == datetime(2026, 3, 27, 23, 0, tzinfo=UTC)  # CET
    assert change.end == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)  # CEST: 47 hours of busy
    assert change.end - change.start == timedelta(hours=47)


def test_a_recurring_instance_is_busy_on_its_own_times() -> None:
    raw = {
        **item("google_events_list_full_sync_page1", "7cbh8rpc10lrc0ckih9tafss99"),
        "id": "7cbh8rpc10lrc0ckih9tafss99_20260309T080000Z",
        "recurringEventId": "7cbh8rpc10lrc0ckih9tafss99",
        "originalStartTime": {"dateTime": "2026-03-09T09:00:00+01:00", "timeZone": "Europe/Berlin"},
        "start": {"dateTime": "2026-03-09T09:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-03-09T09:30:00+01:00", "timeZone": "Europe/Berlin"},
    }
    del raw["recurrence"]  # "omitted for ... instances of recurring events"
    change = busy_change(event(raw), BERLIN)
    assert change.provider_event_id == "7cbh8rpc10lrc0ckih9tafss99_20260309T080000Z"
    assert change.start == datetime(2026, 3, 9, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("source", "event_id", "why"),
    [
        ("google_events_list_incremental", "2k4m6o8q0s2u4a6c8e0g2i4k6m", "transparent: shown as free"),
        ("google_events_list_incremental", "0v9u8t7s6r5q4p3o2n1m0l9k8j", "cancelled: a deletion with only its id"),
        ("google_events_list_incremental", "7cbh8rpc10lrc0ckih9tafss99_20260316T080000Z", "a cancelled instance"),
    ],
)
def test_events_that_do_not_block_time_are_removals(source: str, event_id: str, why: str) -> None:
    assert busy_change(event(item(source, event_id)), BERLIN) == BusyChange(provider_event_id=event_id, busy=False)


def test_an_event_the_owner_declined_is_not_busy() -> None:
    raw = item("google_events_list_full_sync_page1", "5f0p3s1nq2r7ab8cd9ef0gh1ij")
    raw["organizer"] = {"email": "bob@example.org"}
    raw["attendees"][0]["responseStatus"] = "declined"  # alice, "self": true
    assert not busy_change(event(raw), BERLIN).busy
    raw["attendees"][0]["responseStatus"] = "tentative"
    assert busy_change(event(raw), BERLIN).busy
    raw["attendees"][0]["self"] = False
    raw["attendees"][1]["responseStatus"] = "declined"  # someone else declining changes nothing
    assert busy_change(event(raw), BERLIN).busy


def test_a_working_location_marker_is_not_busy() -> None:
    raw = {
        "id": "wl0001",
        "eventType": "workingLocation",
        "start": {"date": "2026-03-10"},
        "end": {"date": "2026-03-11"},
    }
    assert not busy_change(event(raw), BERLIN).busy


def test_event_ids_follow_googles_rules_and_are_stable() -> None:
    rules = fixture("google_event_id_rules")
    pattern = re.compile(rules["regex"])
    assert all(pattern.fullmatch(valid) for valid in rules["valid"])
    assert not any(pattern.fullmatch(invalid) for invalid in rules["invalid"])
    ids = {event_id_for(f"bkg_{n}") for n in range(200)}
    assert len(ids) == 200
    assert all(pattern.fullmatch(event_id) for event_id in ids)
    assert event_id_for("bkg_1") == event_id_for("bkg_1")


def test_a_booking_becomes_the_documented_insert_body() -> None:
    documented = fixture("google_event_insert_request")
    body = msgspec.to_builtins(insert_body(booking()))
    assert set(documented) <= set(body)
    assert body["start"] == documented["start"]  # 14:00 UTC is 15:00 in Berlin, written with the zone
    assert body["end"] == documented["end"]
    assert body["attendees"] == documented["attendees"]
    assert body["reminders"] == documented["reminders"]
    assert body["summary"] == "Intro call"
    assert body["id"] == event_id_for("bkg_01J8ZQ4W3X5Y6Z7A8B9C0D1E2F")
    assert body["extendedProperties"] == {"private": {"hub_booking_id": "bkg_01J8ZQ4W3X5Y6Z7A8B9C0D1E2F"}}
    assert "description" not in body


def test_names_and_descriptions_are_written_when_given() -> None:
    body = msgspec.to_builtins(
        insert_body(booking(attendees=(("bob@example.org", "Bob Example"),), description="Agenda: intro"))
    )
    assert body["attendees"] == [{"email": "bob@example.org", "displayName": "Bob Example"}]
    assert body["description"] == "Agenda: intro"


def test_google_emails_attendees_only_when_asked() -> None:
    assert send_updates(booking()) == "none"
    assert send_updates(booking(notify_attendees=True)) == "all"


MEET: tuple[ConferenceKind, ...] = ("google_meet",)


def test_calendar_list_entries() -> None:
    page = msgspec.convert(fixture("google_calendar_list"), CalendarListPage)
    assert [provider_calendar(entry) for entry in page.items] == [
        ProviderCalendar(
            "alice@example.com", "alice@example.com", primary=True, timezone="Europe/Berlin", conferencing=MEET
        ),
        ProviderCalendar(
            "c_9k2m4n6p8r0t2v4a6c8e0g2i4k@group.calendar.google.com",
            "Rota",
            timezone="Europe/London",
            writable=True,
            conferencing=MEET,
        ),
        ProviderCalendar(
            "en.german#holiday@group.v.calendar.google.com",
            "Holidays in Germany",
            timezone="Europe/Berlin",
            writable=False,
            conferencing=MEET,  # conferenceProperties.allowedConferenceSolutionTypes: ["hangoutsMeet"]
        ),
    ]
