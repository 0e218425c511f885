"""Pure mapping (PROTOCOLS E, event JSON): Graph events to busy blocks (Windows and IANA zones,
all-day, recurring occurrences, free/cancelled/declined/removed) and bookings to create bodies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from connectors.microsoft.mapping import BOOKING_PROPERTY_ID, busy_change, create_body, transaction_id, zone
from connectors.microsoft.schemas import DeltaPage, Event
from hub.connectors import BusyChange, OutboundEvent
from tests.connectors.microsoft.helpers import fixture, fixture_bytes


def event(name: str, **changes: Any) -> Event:
    return msgspec.convert({**fixture(name), **changes}, Event)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_a_timed_event_in_a_windows_zone_is_busy_in_utc() -> None:
    # graph_event_timed.json: 10:00-11:00 "W. Europe Standard Time" on 2026-03-10 (CET, UTC+1)
    assert busy_change(event("graph_event_timed")) == BusyChange(
        "AAMkAGI1AAAt9AHjAAA=", utc(2026, 3, 10, 9), utc(2026, 3, 10, 10), busy=True
    )


def test_the_delta_pages_map_to_busy_blocks() -> None:
    page = msgspec.json.decode(fixture_bytes("graph_calendarview_delta_page1"), type=DeltaPage)
    assert page.next_link
    assert not page.delta_link
    assert [busy_change(item) for item in page.value] == [
        BusyChange("AAMkAGI1AAAt9AHjAAA=", utc(2026, 3, 10, 9), utc(2026, 3, 10, 10)),
        BusyChange("AAMkAGI1AAAt9AHkAAA=", utc(2026, 3, 20), utc(2026, 3, 21)),  # all-day, UTC
    ]


def test_removed_items_are_not_busy() -> None:
    page = msgspec.json.decode(fixture_bytes("graph_calendarview_delta_incremental"), type=DeltaPage)
    removed, updated = page.value
    assert removed.removed is not None
    assert busy_change(removed) == BusyChange("AAMkAGI1AAAt9AHkAAA=", busy=False)
    assert busy_change(updated) == BusyChange("AAMkAGI1AAAt9AHjAAA=", utc(2026, 3, 10, 13), utc(2026, 3, 10, 14))


def test_an_all_day_event_shown_as_free_does_not_block() -> None:
    assert busy_change(event("graph_event_all_day")) == BusyChange("AAMkAGI1AAAt9AHkAAA=", busy=False)


def test_an_all_day_event_spans_its_days_in_the_calendars_zone_when_known() -> None:
    all_day = event("graph_event_all_day", showAs="busy")
    assert busy_change(all_day) == BusyChange("AAMkAGI1AAAt9AHkAAA=", utc(2026, 3, 20), utc(2026, 3, 21))
    berlin = busy_change(all_day, all_day_zone="Europe/Berlin")
    assert berlin == BusyChange("AAMkAGI1AAAt9AHkAAA=", utc(2026, 3, 19, 23), utc(2026, 3, 20, 23))


def test_an_all_day_event_given_in_a_windows_zone_is_midnight_there() -> None:
    start = {"dateTime": "2026-07-01T00:00:00.0000000", "timeZone": "Pacific Standard Time"}
    end = {"dateTime": "2026-07-03T00:00:00.0000000", "timeZone": "Pacific Standard Time"}
    change = busy_change(event("graph_event_all_day", showAs="oof", start=start, end=end))
    assert change == BusyChange("AAMkAGI1AAAt9AHkAAA=", utc(2026, 7, 1, 7), utc(2026, 7, 3, 7))  # PDT, UTC-7


def test_a_series_master_is_skipped_and_its_occurrences_are_busy() -> None:
    assert busy_change(event("graph_event_recurring")) is None  # type seriesMaster
    # an occurrence of that series, as calendarView/delta returns it (type, seriesMasterId, own id and times)
    occurrence = event(
        "graph_event_recurring",
        id="AAMkADQwMD_occurrence_20260309",
        type="occurrence",
        seriesMasterId="AAMkADQwMD",
        recurrence=None,
        start={"dateTime": "2026-03-09T09:00:00.0000000", "timeZone": "W. Europe Standard Time"},
        end={"dateTime": "2026-03-09T09:30:00.0000000", "timeZone": "W. Europe Standard Time"},
    )
    assert busy_change(occurrence) == BusyChange(
        "AAMkADQwMD_occurrence_20260309", utc(2026, 3, 9, 8), utc(2026, 3, 9, 8, 30)
    )
    # after the DST change (last Sunday of March) the same wall time is an hour earlier in UTC
    summer = event(
        "graph_event_recurring",
        id="AAMkADQwMD_occurrence_20260406",
        type="exception",
        seriesMasterId="AAMkADQwMD",
        start={"dateTime": "2026-04-06T09:00:00.0000000", "timeZone": "W. Europe Standard Time"},
        end={"dateTime": "2026-04-06T09:30:00.0000000", "timeZone": "W. Europe Standard Time"},
    )
    assert busy_change(summer) == BusyChange(
        "AAMkADQwMD_occurrence_20260406", utc(2026, 4, 6, 7), utc(2026, 4, 6, 7, 30)
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"isCancelled": True},
        {"showAs": "free"},
        {"showAs": "workingElsewhere"},
        {"responseStatus": {"response": "declined", "time": "2026-03-02T10:00:00Z"}},
    ],
)
def test_cancelled_free_and_declined_events_do_not_block(changes: dict[str, Any]) -> None:
    assert busy_change(event("graph_event_timed", **changes)) == BusyChange("AAMkAGI1AAAt9AHjAAA=", busy=False)


@pytest.mark.parametrize("show_as", ["busy", "tentative", "oof", "unknown", None])
def test_busy_tentative_and_away_block(show_as: str | None) -> None:
    change = busy_change(event("graph_event_timed", showAs=show_as))
    assert change is not None
    assert change.busy


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("GMT Standard Time", "Europe/London"),
        ("Eastern Standard Time", "America/New_York"),
        ("India Standard Time", "Asia/Kolkata"),
        ("Nepal Standard Time", "Asia/Kathmandu"),
        ("Chatham Islands Standard Time", "Pacific/Chatham"),  # from the full CLDR table only
        ("Europe/Paris", "Europe/Paris"),  # IANA passes through
        ("UTC", "UTC"),
    ],
)
def test_zone_names(name: str, expected: str) -> None:
    moment = datetime(2026, 1, 15, 12, tzinfo=UTC)
    assert moment.astimezone(zone(name)).utcoffset() == moment.astimezone(zone(expected)).utcoffset()
    if name in ("W. Europe Standard Time", "GMT Standard Time", "Eastern Standard Time", "Europe/Paris"):
        assert str(zone(name)) == expected


@pytest.mark.parametrize("name", ["Customized Time Zone", "", None])
def test_a_missing_or_unknown_zone_is_none_and_its_times_read_as_utc(name: str | None) -> None:
    assert zone(name) is None
    timed = event("graph_event_timed")
    local = msgspec.structs.replace(timed.start, time_zone=name)
    change = busy_change(msgspec.structs.replace(timed, start=local, end=local))
    assert change is not None
    assert change.start == datetime.fromisoformat(local.date_time).replace(tzinfo=UTC)  # Graph's default


def test_an_event_in_an_iana_zone_is_read_there() -> None:
    start = {"dateTime": "2026-03-10T10:00:00.0000000", "timeZone": "America/New_York"}
    end = {"dateTime": "2026-03-10T10:45:00.0000000", "timeZone": "America/New_York"}
    change = busy_change(event("graph_event_timed", start=start, end=end))
    assert change == BusyChange("AAMkAGI1AAAt9AHjAAA=", utc(2026, 3, 10, 14), utc(2026, 3, 10, 14, 45))  # EDT


# --- writing ---------------------------------------------------------------------------------------

BOOKING = OutboundEvent(
    booking_id="bkg_01jd3w9k6v0m3y0q6d2x9t7h1e",
    title="Quarterly planning",
    start=datetime(2026, 3, 10, 9, tzinfo=UTC),
    end=datetime(2026, 3, 10, 10, tzinfo=UTC),
    timezone="Europe/Berlin",
    attendees=(("bob@example.org", "Bob Example"),),
    description="Agenda: review Q1, plan Q2.",
)


def test_the_create_body_has_the_shape_of_the_documented_request() -> None:
    documented = fixture("graph_event_create_request")
    body = msgspec.to_builtins(create_body(BOOKING))
    assert set(documented) - {"location", "attendees"} <= set(body)
    assert body["subject"] == documented["subject"]
    # the same wall-clock times as the documented request, named by IANA zone
    assert body["start"] == {"dateTime": documented["start"]["dateTime"], "timeZone": "Europe/Berlin"}
    assert body["end"] == {"dateTime": documented["end"]["dateTime"], "timeZone": "Europe/Berlin"}
    assert body["transactionId"] == "hub-bkg_01jd3w9k6v0m3y0q6d2x9t7h1e"
    assert body["isOnlineMeeting"] is False
    assert body["singleValueExtendedProperties"] == [{"id": BOOKING_PROPERTY_ID, "value": BOOKING.booking_id}]
    assert body["body"]["content"].startswith("Agenda: review Q1, plan Q2.")


def test_attendees_are_invited_only_when_hub_is_asked_to_notify_them() -> None:
    quiet = msgspec.to_builtins(create_body(BOOKING))
    assert "attendees" not in quiet  # Graph would email them a meeting request
    assert "Bob Example <bob@example.org>" in quiet["body"]["content"]
    invited = msgspec.to_builtins(create_body(msgspec.structs.replace(BOOKING, notify_attendees=True)))
    assert invited["attendees"] == fixture("graph_event_create_request")["attendees"]


def test_the_transaction_id_is_derived_from_the_booking_only() -> None:
    assert transaction_id("bkg_1") == transaction_id("bkg_1") != transaction_id("bkg_2")
    long_id = "x" * 200
    assert transaction_id(long_id) == transaction_id(long_id)
    assert len(transaction_id(long_id)) <= 64
    assert (
        create_body(msgspec.structs.replace(BOOKING, start=BOOKING.start + timedelta(hours=1))).transaction_id
        == create_body(BOOKING).transaction_id
    )
