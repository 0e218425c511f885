"""Reading request times (offsets, local times, DST gaps and overlaps) and rendering responses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from hub.errors import FieldError
from hub.times import load_zone, parse_instant, to_local_rfc3339, to_rfc3339_utc

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KATHMANDU = ZoneInfo("Asia/Kathmandu")


def utc(year: int, month: int, day: int, hour: int, minute: int, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def refused(value: object, zone: ZoneInfo | None = None, field: str = "start") -> FieldError:
    with pytest.raises(FieldError) as caught:
        parse_instant(value, field=field, zone=zone)  # type: ignore[arg-type]
    assert caught.value.status == 422
    assert caught.value.field == field
    return caught.value


def message(error: FieldError) -> str:
    return str(error.extra["errors"][0]["message"])


# --- load_zone -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Europe/Berlin", "America/New_York", "Asia/Kathmandu", "UTC", "Etc/GMT+5"])
def test_load_zone_returns_the_named_zone(name: str) -> None:
    assert load_zone(name).key == name


@pytest.mark.parametrize(
    "name",
    [
        "Mars/Olympus_Mons",
        "",
        "../etc",
        "/etc/passwd",
        "europe/berlin",
        "Europe",
        "localtime",
        "posixrules",
        "Factory",
        "Europe/Berlin\x00",
        42,
        None,
    ],
)
def test_load_zone_refuses_what_is_not_an_iana_zone(name: object) -> None:
    with pytest.raises(FieldError) as caught:
        load_zone(name, field="timezone")  # type: ignore[arg-type]

    assert caught.value.code == "unknown_timezone"
    assert caught.value.title == "Unknown time zone"
    assert caught.value.status == 422
    assert caught.value.field == "timezone"


def test_load_zone_reports_the_given_field() -> None:
    with pytest.raises(FieldError) as caught:
        load_zone("Nowhere/Town", field="view.timezone")

    assert caught.value.extra == {"errors": [{"field": "view.timezone", "message": message(caught.value)}]}
    assert caught.value.field == "view.timezone"


# --- parse_instant: with an offset -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-07T09:00:00+01:00", utc(2026, 12, 7, 8, 0)),
        ("2026-12-07T08:00:00Z", utc(2026, 12, 7, 8, 0)),
        ("2026-12-07t08:00:00z", utc(2026, 12, 7, 8, 0)),
        ("2026-12-07T03:00:00-05:00", utc(2026, 12, 7, 8, 0)),
        ("2026-12-07T13:45:00+05:45", utc(2026, 12, 7, 8, 0)),
        ("2026-12-07T08:00:00.250Z", utc(2026, 12, 7, 8, 0, 0, 250_000)),
        ("2026-12-07T08:00:00.123456789+00:00", utc(2026, 12, 7, 8, 0, 0, 123_456)),
        ("2026-12-07T09:00+01:00", utc(2026, 12, 7, 8, 0)),
    ],
)
def test_an_offset_decides_the_instant(value: str, expected: datetime) -> None:
    parsed = parse_instant(value, field="start", zone=None)

    assert parsed == expected
    assert parsed.tzinfo is UTC


def test_an_offset_wins_over_the_zone_even_inside_a_dst_overlap() -> None:
    assert parse_instant("2026-10-25T02:30:00+01:00", field="start", zone=BERLIN) == utc(2026, 10, 25, 1, 30)
    assert parse_instant("2026-10-25T02:30:00+02:00", field="start", zone=BERLIN) == utc(2026, 10, 25, 0, 30)


# --- parse_instant: local times --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "zone", "expected"),
    [
        ("2026-12-07T09:00:00", BERLIN, utc(2026, 12, 7, 8, 0)),
        ("2026-12-07T09:00", BERLIN, utc(2026, 12, 7, 8, 0)),
        ("2026-07-07T09:00:00", BERLIN, utc(2026, 7, 7, 7, 0)),
        ("2026-03-29T03:00:00", BERLIN, utc(2026, 3, 29, 1, 0)),
        ("2026-03-08T01:59:59", NEW_YORK, utc(2026, 3, 8, 6, 59, 59)),
        ("2026-12-07T09:00:00.5", KATHMANDU, utc(2026, 12, 7, 3, 15, 0, 500_000)),
    ],
)
def test_a_local_time_is_read_in_the_zone(value: str, zone: ZoneInfo, expected: datetime) -> None:
    parsed = parse_instant(value, field="start", zone=zone)

    assert parsed == expected
    assert parsed.tzinfo is UTC


def test_a_local_time_without_a_zone_is_refused() -> None:
    error = refused("2026-12-07T09:00:00", zone=None, field="end")

    assert error.code == "validation_failed"
    assert message(error) == "has no UTC offset; send an offset or a `timezone`"


@pytest.mark.parametrize(
    ("value", "zone", "expected_message"),
    [
        (
            "2026-03-29T02:30:00",
            BERLIN,
            "2026-03-29T02:30:00 does not exist in Europe/Berlin (clocks jump from 02:00 to 03:00); "
            "send a time outside the gap or with an offset",
        ),
        (
            "2026-03-29T02:00",
            BERLIN,
            "2026-03-29T02:00:00 does not exist in Europe/Berlin (clocks jump from 02:00 to 03:00); "
            "send a time outside the gap or with an offset",
        ),
        (
            "2026-03-08T02:15:00",
            NEW_YORK,
            "2026-03-08T02:15:00 does not exist in America/New_York (clocks jump from 02:00 to 03:00); "
            "send a time outside the gap or with an offset",
        ),
    ],
)
def test_a_local_time_in_a_dst_gap_is_refused(value: str, zone: ZoneInfo, expected_message: str) -> None:
    error = refused(value, zone=zone)

    assert error.code == "nonexistent_local_time"
    assert error.title == "Nonexistent local time"
    assert message(error) == expected_message


@pytest.mark.parametrize(
    ("value", "zone", "first", "second"),
    [
        ("2026-10-25T02:30:00", BERLIN, "+02:00", "+01:00"),
        ("2026-10-25T02:00:00", BERLIN, "+02:00", "+01:00"),
        ("2026-11-01T01:30:00", NEW_YORK, "-04:00", "-05:00"),
    ],
)
def test_a_local_time_in_a_dst_overlap_is_refused(value: str, zone: ZoneInfo, first: str, second: str) -> None:
    error = refused(value, zone=zone)

    assert error.code == "ambiguous_local_time"
    assert error.title == "Ambiguous local time"
    assert message(error) == (
        f"{value} happens twice in {zone.key} (at {first} and {second}); send an offset, e.g. {value}{first}"
    )


def test_the_edges_of_the_overlap_are_unambiguous() -> None:
    assert parse_instant("2026-10-25T01:59:59", field="start", zone=BERLIN) == utc(2026, 10, 24, 23, 59, 59)
    assert parse_instant("2026-10-25T03:00:00", field="start", zone=BERLIN) == utc(2026, 10, 25, 2, 0)


# --- parse_instant: garbage ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message_part"),
    [
        ("tomorrow", "RFC 3339"),
        ("", "RFC 3339"),
        ("2026-12-07", "not only a date"),
        ("09:00", "RFC 3339"),
        ("2026-12-07T09", "RFC 3339"),
        ("2026-12-07T09:00:00+0100", "RFC 3339"),
        ("2026-12-07T09:00:00 01:00", "%2B"),
        ("2026-12-07T09:00:00+01:00 ", "RFC 3339"),
        ("\uff12\uff10\uff12\uff16-12-07T09:00:00Z", "RFC 3339"),  # full-width digits
        ("2026-13-01T09:00:00Z", "month must be in 1..12"),
        ("2026-02-29T09:00:00Z", "day is out of range for month"),
        ("2026-12-07T24:00:00Z", "hour must be in 0..23"),
        ("2026-12-07T09:60:00Z", "minute must be in 0..59"),
        ("2026-12-31T23:59:60Z", "second must be in 0..59"),
        ("2026-12-07T09:00:00+24:00", "offset +24:00 is out of range"),
        ("0000-01-01T00:00:00Z", "between the years 1970 and 2199"),
        ("0001-01-01T00:00:00+01:00", "between the years 1970 and 2199"),
        ("9999-12-31T23:30:00Z", "between the years 1970 and 2199"),
        (20261207, "must be a string"),
        (None, "must be a string"),
    ],
)
def test_what_is_not_a_date_and_time_is_refused(value: object, message_part: str) -> None:
    error = refused(value, zone=BERLIN)

    assert error.code == "validation_failed"
    assert message_part in message(error)


# --- rendering -------------------------------------------------------------------------------


def test_to_rfc3339_utc() -> None:
    assert to_rfc3339_utc(datetime(2026, 12, 7, 9, 0, tzinfo=BERLIN)) == "2026-12-07T08:00:00Z"
    assert to_rfc3339_utc(utc(2026, 12, 7, 8, 0, 0, 250_000)) == "2026-12-07T08:00:00.250000Z"
    assert to_rfc3339_utc(datetime(2026, 12, 7, 3, 0, tzinfo=timezone(timedelta(hours=-5)))) == "2026-12-07T08:00:00Z"


def test_to_local_rfc3339() -> None:
    instant = utc(2026, 12, 7, 8, 0)

    assert to_local_rfc3339(instant, BERLIN) == "2026-12-07T09:00:00+01:00"
    assert to_local_rfc3339(utc(2026, 7, 7, 7, 0), BERLIN) == "2026-07-07T09:00:00+02:00"
    assert to_local_rfc3339(instant, KATHMANDU) == "2026-12-07T13:45:00+05:45"
    assert to_local_rfc3339(instant, NEW_YORK) == "2026-12-07T03:00:00-05:00"
    assert to_local_rfc3339(instant, ZoneInfo("UTC")) == "2026-12-07T08:00:00+00:00"


def test_both_occurrences_of_an_overlapping_hour_render_with_their_own_offset() -> None:
    assert to_local_rfc3339(utc(2026, 10, 25, 0, 30), BERLIN) == "2026-10-25T02:30:00+02:00"
    assert to_local_rfc3339(utc(2026, 10, 25, 1, 30), BERLIN) == "2026-10-25T02:30:00+01:00"


def test_a_historical_offset_with_seconds_still_renders_the_exact_instant() -> None:
    rendered = to_local_rfc3339(utc(1890, 1, 1, 0, 0), BERLIN)  # Berlin's LMT was +00:53:28

    assert rendered == "1890-01-01T00:53:00+00:53"
    assert datetime.fromisoformat(rendered) == utc(1890, 1, 1, 0, 0)


@pytest.mark.parametrize("render", [to_rfc3339_utc, lambda dt: to_local_rfc3339(dt, BERLIN)])
def test_rendering_a_naive_datetime_is_a_programming_error(render: object) -> None:
    with pytest.raises(ValueError, match="naive"):
        render(datetime(2026, 12, 7, 9, 0))  # type: ignore[operator]
