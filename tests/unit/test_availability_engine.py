"""The availability engine: working hours to UTC windows, busy time, free slots, booking checks.

Expected slot times are written out as UTC instants, worked out by hand from each zone's rules.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from hub.availability import (
    WorkingRange,
    conflicts,
    fits_working_hours,
    free_slots,
    merge_busy,
    parse_working_hours,
    working_windows,
)
from hub.errors import FieldError

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
ADELAIDE = ZoneInfo("Australia/Adelaide")
KOLKATA = ZoneInfo("Asia/Kolkata")
KATHMANDU = ZoneInfo("Asia/Kathmandu")
UTC_ZONE = ZoneInfo("UTC")
MINUTE = 60
HOUR = 3600


def at(text: str) -> int:
    """Epoch seconds of an RFC 3339 UTC instant written with ``Z``."""
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%MZ")


def starts(slots: list[tuple[int, int]]) -> list[str]:
    return [iso(start) for start, _ in slots]


def hours(*items: tuple[str, str, str]) -> list[WorkingRange]:
    return parse_working_hours(list(items))


def every_day(start: str, end: str) -> list[WorkingRange]:
    return hours(*((day, start, end) for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")))


WEEKDAYS_9_TO_5 = hours(*((day, "09:00", "17:00") for day in ("mon", "tue", "wed", "thu", "fri")))


# --- parse_working_hours ---------------------------------------------------------------------


def test_parse_working_hours_reads_weekdays_and_minutes_in_order() -> None:
    parsed = hours(("tue", "13:30", "24:00"), ("mon", "00:00", "08:15"))

    assert parsed == [WorkingRange(weekday=1, start=810, end=1440), WorkingRange(weekday=0, start=0, end=495)]


@pytest.mark.parametrize(
    ("item", "field", "message_part"),
    [
        (("monday", "09:00", "17:00"), "working_hours[1].weekday", "mon, tue, wed, thu, fri, sat, sun"),
        (("Mon", "09:00", "17:00"), "working_hours[1].weekday", "must be one of"),
        (("mon", "9:00", "17:00"), "working_hours[1].start", "HH:MM"),
        (("mon", "09:60", "17:00"), "working_hours[1].start", "HH:MM"),
        (("mon", "09:00", "25:00"), "working_hours[1].end", "HH:MM"),
        (("mon", "09:00", "24:01"), "working_hours[1].end", "HH:MM"),
        (("mon", "09:00", "noon"), "working_hours[1].end", "HH:MM"),
        (("mon", "24:00", "24:00"), "working_hours[1].start", "24:00 is only allowed as the end"),
        (("mon", "17:00", "09:00"), "working_hours[1].end", "later than start"),
        (("mon", "09:00", "09:00"), "working_hours[1].end", "later than start"),
    ],
)
def test_parse_working_hours_names_the_bad_field(item: tuple[str, str, str], field: str, message_part: str) -> None:
    with pytest.raises(FieldError) as caught:
        parse_working_hours([("fri", "09:00", "17:00"), item])

    assert caught.value.field == field
    assert caught.value.code == "validation_failed"
    assert caught.value.status == 422
    assert message_part in caught.value.extra["errors"][0]["message"]


def test_parse_working_hours_rejects_a_time_that_is_not_a_string() -> None:
    with pytest.raises(FieldError) as caught:
        parse_working_hours([("mon", 900, "17:00")])  # type: ignore[list-item]

    assert caught.value.field == "working_hours[0].start"


# --- working_windows -------------------------------------------------------------------------


def test_windows_follow_berlin_into_summer_time() -> None:
    windows = working_windows(
        every_day("09:00", "17:00"), BERLIN, at("2026-03-28T00:00:00Z"), at("2026-03-30T00:00:00Z")
    )

    assert windows == [
        (at("2026-03-28T08:00:00Z"), at("2026-03-28T16:00:00Z")),  # Saturday, CET (+01:00)
        (at("2026-03-29T07:00:00Z"), at("2026-03-29T15:00:00Z")),  # Sunday, CEST (+02:00)
    ]


def test_a_range_that_starts_in_the_spring_gap_starts_after_it() -> None:
    windows = working_windows(
        hours(("sun", "02:00", "04:00")), BERLIN, at("2026-03-29T00:00:00Z"), at("2026-03-30T00:00:00Z")
    )

    # 02:00 does not exist that night; read as 03:00 CEST, so only one hour is worked.
    assert windows == [(at("2026-03-29T01:00:00Z"), at("2026-03-29T02:00:00Z"))]


def test_a_day_ending_at_24_00_lasts_25_hours_when_berlin_falls_back() -> None:
    windows = working_windows(
        hours(("sun", "00:00", "24:00")), BERLIN, at("2026-10-20T00:00:00Z"), at("2026-10-30T00:00:00Z")
    )

    assert windows == [(at("2026-10-24T22:00:00Z"), at("2026-10-25T23:00:00Z"))]


def test_windows_are_returned_unclipped() -> None:
    windows = working_windows(WEEKDAYS_9_TO_5, UTC_ZONE, at("2026-12-07T12:00:00Z"), at("2026-12-07T13:00:00Z"))

    assert windows == [(at("2026-12-07T09:00:00Z"), at("2026-12-07T17:00:00Z"))]


def test_overlapping_and_touching_ranges_of_a_day_become_one_window() -> None:
    ranges = hours(
        ("mon", "09:00", "10:00"), ("mon", "10:00", "11:00"), ("mon", "10:30", "12:00"), ("mon", "13:00", "14:00")
    )

    windows = working_windows(ranges, UTC_ZONE, at("2026-12-07T00:00:00Z"), at("2026-12-08T00:00:00Z"))

    assert windows == [
        (at("2026-12-07T09:00:00Z"), at("2026-12-07T12:00:00Z")),
        (at("2026-12-07T13:00:00Z"), at("2026-12-07T14:00:00Z")),
    ]


def test_no_working_hours_means_no_windows() -> None:
    assert working_windows([], BERLIN, at("2026-12-07T00:00:00Z"), at("2026-12-14T00:00:00Z")) == []


# --- free_slots across DST and odd offsets ---------------------------------------------------


def test_berlin_spring_forward_week_moves_slots_an_hour_earlier_in_utc() -> None:
    slots = free_slots(
        hours=hours(("fri", "09:00", "10:00"), ("sun", "09:00", "10:00"), ("mon", "09:00", "10:00")),
        tz=BERLIN,
        start=at("2026-03-27T00:00:00Z"),
        end=at("2026-03-31T00:00:00Z"),
        busy=[],
        duration=30 * MINUTE,
        step=30 * MINUTE,
    )

    assert starts(slots) == [
        "2026-03-27T08:00Z",
        "2026-03-27T08:30Z",
        "2026-03-29T07:00Z",
        "2026-03-29T07:30Z",
        "2026-03-30T07:00Z",
        "2026-03-30T07:30Z",
    ]
    assert all(end - start == 30 * MINUTE for start, end in slots)


def test_berlin_fall_back_night_has_an_extra_hour_of_slots() -> None:
    slots = free_slots(
        hours=hours(("sun", "01:00", "04:00")),
        tz=BERLIN,
        start=at("2026-10-24T00:00:00Z"),
        end=at("2026-10-26T00:00:00Z"),
        busy=[],
        duration=HOUR,
        step=HOUR,
    )

    # 01:00 CEST is 23:00Z, 04:00 CET is 03:00Z: three wall-clock hours, four real ones.
    assert starts(slots) == ["2026-10-24T23:00Z", "2026-10-25T00:00Z", "2026-10-25T01:00Z", "2026-10-25T02:00Z"]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2026-03-06T00:00:00Z", "2026-03-10T00:00:00Z", ["2026-03-06T14:00Z", "2026-03-09T13:00Z"]),
        ("2026-10-30T00:00:00Z", "2026-11-03T00:00:00Z", ["2026-10-30T13:00Z", "2026-11-02T14:00Z"]),
    ],
    ids=["spring-forward-2026-03-08", "fall-back-2026-11-01"],
)
def test_new_york_dst_weeks(start: str, end: str, expected: list[str]) -> None:
    slots = free_slots(
        hours=WEEKDAYS_9_TO_5, tz=NEW_YORK, start=at(start), end=at(end), busy=[], duration=8 * HOUR, step=HOUR
    )

    assert starts(slots) == expected


def test_adelaide_half_hour_offset_across_the_end_of_summer_time() -> None:
    slots = free_slots(
        hours=hours(("fri", "09:00", "10:00"), ("mon", "09:00", "10:00")),
        tz=ADELAIDE,
        start=at("2026-04-02T00:00:00Z"),
        end=at("2026-04-07T00:00:00Z"),
        busy=[],
        duration=HOUR,
        step=HOUR,
    )

    # Friday 3 April is ACDT (+10:30); Monday 6 April is ACST (+09:30).
    assert starts(slots) == ["2026-04-02T22:30Z", "2026-04-05T23:30Z"]


def test_kolkata_half_hour_offset() -> None:
    slots = free_slots(
        hours=hours(("mon", "09:00", "10:00")),
        tz=KOLKATA,
        start=at("2026-12-07T00:00:00Z"),
        end=at("2026-12-08T00:00:00Z"),
        busy=[],
        duration=30 * MINUTE,
        step=30 * MINUTE,
    )

    assert starts(slots) == ["2026-12-07T03:30Z", "2026-12-07T04:00Z"]


def test_kathmandu_quarter_to_offset_with_a_step_shorter_than_the_slot() -> None:
    slots = free_slots(
        hours=hours(("mon", "09:00", "10:00")),
        tz=KATHMANDU,
        start=at("2026-12-07T00:00:00Z"),
        end=at("2026-12-08T00:00:00Z"),
        busy=[],
        duration=30 * MINUTE,
        step=15 * MINUTE,
    )

    assert slots == [
        (at("2026-12-07T03:15:00Z"), at("2026-12-07T03:45:00Z")),
        (at("2026-12-07T03:30:00Z"), at("2026-12-07T04:00:00Z")),
        (at("2026-12-07T03:45:00Z"), at("2026-12-07T04:15:00Z")),
    ]


# --- free_slots: busy time, buffers, notice, alignment ---------------------------------------

MONDAY = at("2026-12-07T00:00:00Z")
TUESDAY = at("2026-12-08T00:00:00Z")


def utc_slots(ranges: list[WorkingRange], busy: list[tuple[int, int]], **options: int) -> list[str]:
    settings = {"start": MONDAY, "end": TUESDAY, "duration": 30 * MINUTE, "step": 30 * MINUTE, **options}
    return starts(free_slots(hours=ranges, tz=UTC_ZONE, busy=busy, **settings))


MORNING = hours(("mon", "09:00", "12:00"))
MEETING = (at("2026-12-07T10:00:00Z"), at("2026-12-07T10:30:00Z"))


def test_busy_block_removes_overlapping_slots_but_not_touching_ones() -> None:
    assert utc_slots(MORNING, [MEETING]) == [
        "2026-12-07T09:00Z",
        "2026-12-07T09:30Z",
        "2026-12-07T10:30Z",
        "2026-12-07T11:00Z",
        "2026-12-07T11:30Z",
    ]


def test_buffer_keeps_free_time_on_both_sides_of_busy_blocks() -> None:
    assert utc_slots(MORNING, [MEETING], buffer=15 * MINUTE) == [
        "2026-12-07T09:00Z",
        "2026-12-07T11:00Z",
        "2026-12-07T11:30Z",
    ]


def test_buffer_of_exactly_the_gap_still_leaves_the_touching_slot() -> None:
    # Widened by 30 minutes the meeting covers 09:30-11:00; 09:00-09:30 and 11:00-11:30 touch it.
    assert utc_slots(MORNING, [MEETING], buffer=30 * MINUTE) == [
        "2026-12-07T09:00Z",
        "2026-12-07T11:00Z",
        "2026-12-07T11:30Z",
    ]


def test_earliest_drops_slots_starting_before_minimum_notice_without_shifting_the_grid() -> None:
    assert utc_slots(MORNING, [], earliest=at("2026-12-07T09:40:00Z")) == [
        "2026-12-07T10:00Z",
        "2026-12-07T10:30Z",
        "2026-12-07T11:00Z",
        "2026-12-07T11:30Z",
    ]


def test_earliest_on_a_grid_point_keeps_that_slot() -> None:
    assert utc_slots(MORNING, [], earliest=at("2026-12-07T11:00:00Z")) == ["2026-12-07T11:00Z", "2026-12-07T11:30Z"]


def test_slots_align_to_the_range_start_and_step_by_the_interval() -> None:
    ranges = hours(("mon", "09:10", "10:30"))

    assert utc_slots(ranges, [], step=20 * MINUTE) == ["2026-12-07T09:10Z", "2026-12-07T09:30Z", "2026-12-07T09:50Z"]
    assert utc_slots(ranges, [], step=20 * MINUTE, start=at("2026-12-07T09:15:00Z")) == [
        "2026-12-07T09:30Z",
        "2026-12-07T09:50Z",
    ]


def test_alignment_survives_busy_time_inside_the_range() -> None:
    ranges = hours(("mon", "09:10", "10:30"))
    busy = [(at("2026-12-07T09:00:00Z"), at("2026-12-07T09:15:00Z"))]

    assert utc_slots(ranges, busy, step=20 * MINUTE) == ["2026-12-07T09:30Z", "2026-12-07T09:50Z"]


def test_adjacent_ranges_are_merged_before_slots_are_laid_out() -> None:
    ranges = hours(("mon", "10:00", "11:00"), ("mon", "09:00", "10:00"))

    # One 09:00-11:00 window: 45-minute slots at 09:00 and 09:45 (the second spans 10:00).
    assert utc_slots(ranges, [], duration=45 * MINUTE, step=45 * MINUTE) == ["2026-12-07T09:00Z", "2026-12-07T09:45Z"]


def test_slots_stay_inside_the_requested_window() -> None:
    assert utc_slots(MORNING, [], start=at("2026-12-07T09:30:00Z"), end=at("2026-12-07T10:45:00Z")) == [
        "2026-12-07T09:30Z",
        "2026-12-07T10:00Z",
    ]


def test_a_range_ending_at_24_00_offers_its_last_slot_before_midnight() -> None:
    ranges = hours(("mon", "22:00", "24:00"), ("tue", "00:00", "02:00"))

    slots = free_slots(
        hours=ranges, tz=BERLIN, start=MONDAY, end=at("2026-12-09T00:00:00Z"), busy=[], duration=HOUR, step=HOUR
    )

    # Berlin is +01:00 in December: Monday 22:00 and 23:00, Tuesday 00:00 and 01:00 local.
    assert starts(slots) == ["2026-12-07T21:00Z", "2026-12-07T22:00Z", "2026-12-07T23:00Z", "2026-12-08T00:00Z"]


def test_unsorted_busy_blocks_from_several_calendars_are_all_respected() -> None:
    busy = [
        (at("2026-12-07T11:30:00Z"), at("2026-12-07T12:30:00Z")),
        (at("2026-12-07T09:00:00Z"), at("2026-12-07T09:20:00Z")),
        (at("2026-12-07T09:10:00Z"), at("2026-12-07T09:30:00Z")),
        (at("2026-12-07T10:40:00Z"), at("2026-12-07T10:50:00Z")),
    ]

    assert utc_slots(MORNING, busy) == ["2026-12-07T09:30Z", "2026-12-07T10:00Z", "2026-12-07T11:00Z"]


def test_empty_busy_blocks_are_ignored() -> None:
    assert utc_slots(MORNING, [(at("2026-12-07T10:15:00Z"), at("2026-12-07T10:15:00Z"))]) == [
        "2026-12-07T09:00Z",
        "2026-12-07T09:30Z",
        "2026-12-07T10:00Z",
        "2026-12-07T10:30Z",
        "2026-12-07T11:00Z",
        "2026-12-07T11:30Z",
    ]


@pytest.mark.parametrize(("duration", "step"), [(0, 1800), (1800, 0), (-60, 1800)])
def test_free_slots_needs_a_positive_duration_and_step(duration: int, step: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        free_slots(hours=MORNING, tz=UTC_ZONE, start=MONDAY, end=TUESDAY, busy=[], duration=duration, step=step)


def reference_slots(
    ranges: list[WorkingRange],
    busy: list[tuple[int, int]],
    *,
    start: int,
    end: int,
    duration: int,
    step: int,
    buffer: int,
    earliest: int,
) -> list[tuple[int, int]]:
    """Slot by slot, checking every busy block: slow and obviously right."""
    found = []
    for window_start, window_end in working_windows(ranges, BERLIN, start, end):
        slot = window_start
        while slot + duration <= window_end:
            inside = slot >= max(start, earliest) and slot + duration <= end
            clear = all(slot + duration <= s - buffer or slot >= e + buffer for s, e in busy if s < e)
            if inside and clear:
                found.append((slot, slot + duration))
            slot += step
    return found


@pytest.mark.parametrize("seed", range(8))
def test_free_slots_match_a_slot_by_slot_reference(seed: int) -> None:
    rng = random.Random(seed)
    start = at("2026-03-23T00:00:00Z")  # covers Berlin's spring-forward weekend
    end = start + 14 * 86_400
    busy = []
    for _ in range(rng.randrange(0, 120)):
        block_start = start + rng.randrange(-86_400, 15 * 86_400, 300)
        busy.append((block_start, block_start + rng.randrange(0, 4 * HOUR, 300)))
    ranges = hours(
        ("mon", "08:00", "12:00"),
        ("mon", "13:00", "18:30"),
        ("wed", "07:15", "24:00"),
        ("thu", "00:00", "03:00"),
        ("sat", "10:00", "14:00"),
        ("sun", "01:00", "05:00"),
    )
    options = {
        "start": start + rng.randrange(0, 86_400, 60),
        "end": end - rng.randrange(0, 86_400, 60),
        "duration": rng.choice([15, 30, 45, 60]) * MINUTE,
        "step": rng.choice([10, 15, 30, 60]) * MINUTE,
        "buffer": rng.choice([0, 5, 15]) * MINUTE,
        "earliest": start + rng.randrange(0, 3 * 86_400, 60),
    }

    assert free_slots(hours=ranges, tz=BERLIN, busy=busy, **options) == reference_slots(ranges, busy, **options)


# --- merge_busy ------------------------------------------------------------------------------


def test_merge_busy_sorts_and_merges_overlapping_nested_and_touching_blocks() -> None:
    busy = [(500, 600), (1200, 1300), (0, 1000), (1300, 1400), (2000, 2100)]

    assert merge_busy(busy) == [(0, 1000), (1200, 1400), (2000, 2100)]


def test_merge_busy_widens_by_the_buffer_and_merges_what_then_touches() -> None:
    assert merge_busy([(300, 400), (100, 200)], buffer=50) == [(50, 450)]
    assert merge_busy([(300, 400), (100, 200)], buffer=40) == [(60, 240), (260, 440)]


def test_merge_busy_ignores_empty_blocks_and_accepts_any_iterable() -> None:
    assert merge_busy(iter([(5, 5), (10, 8)])) == []
    assert merge_busy(block for block in [(10, 20), (7, 7), (1, 3)]) == [(1, 3), (10, 20)]
    assert merge_busy([]) == []


# --- fits_working_hours ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "fits"),
    [
        ("2026-12-07T08:00:00Z", "2026-12-07T08:30:00Z", True),  # Monday 09:00-09:30 in Berlin
        ("2026-12-07T15:30:00Z", "2026-12-07T16:00:00Z", True),  # ends exactly at 17:00
        ("2026-12-07T15:45:00Z", "2026-12-07T16:15:00Z", False),  # runs past 17:00
        ("2026-12-07T07:45:00Z", "2026-12-07T08:15:00Z", False),  # starts before 09:00
        ("2026-12-07T10:30:00Z", "2026-12-07T12:30:00Z", False),  # spans the lunch break
        ("2026-12-12T09:00:00Z", "2026-12-12T09:30:00Z", False),  # Saturday
        ("2026-12-07T09:00:00Z", "2026-12-07T09:00:00Z", False),  # empty
    ],
)
def test_fits_working_hours(start: str, end: str, fits: bool) -> None:
    ranges = hours(*((day, "09:00", "12:00") for day in ("mon", "tue")), ("mon", "12:30", "17:00"))

    assert fits_working_hours(ranges, BERLIN, at(start), at(end)) is fits


def test_fits_working_hours_uses_the_summer_offset_after_spring_forward() -> None:
    # Monday 30 March 2026 09:00-09:30 CEST is 07:00-07:30Z; 08:00Z would be 10:00.
    assert fits_working_hours(WEEKDAYS_9_TO_5, BERLIN, at("2026-03-30T07:00:00Z"), at("2026-03-30T07:30:00Z"))
    assert not fits_working_hours(WEEKDAYS_9_TO_5, BERLIN, at("2026-03-30T06:30:00Z"), at("2026-03-30T07:30:00Z"))


def test_a_booking_across_midnight_fits_when_both_days_are_worked_up_to_and_from_midnight() -> None:
    ranges = hours(("mon", "20:00", "24:00"), ("tue", "00:00", "04:00"))

    assert fits_working_hours(ranges, UTC_ZONE, at("2026-12-07T23:30:00Z"), at("2026-12-08T00:30:00Z"))
    assert not fits_working_hours(ranges, UTC_ZONE, at("2026-12-07T23:30:00Z"), at("2026-12-08T04:30:00Z"))


# --- conflicts -------------------------------------------------------------------------------

BOOKING = (at("2026-12-07T10:00:00Z"), at("2026-12-07T10:30:00Z"))
BEFORE = (at("2026-12-07T09:30:00Z"), at("2026-12-07T10:00:00Z"))
AFTER = (at("2026-12-07T10:40:00Z"), at("2026-12-07T11:00:00Z"))
INSIDE = (at("2026-12-07T10:10:00Z"), at("2026-12-07T10:20:00Z"))
AROUND = (at("2026-12-07T09:00:00Z"), at("2026-12-07T12:00:00Z"))


def test_conflicts_lists_overlapping_blocks_sorted_and_not_widened() -> None:
    found = conflicts([AFTER, AROUND, BEFORE, INSIDE], *BOOKING)

    assert found == [AROUND, INSIDE]


def test_conflicts_counts_buffer_on_both_sides() -> None:
    assert conflicts([AFTER, BEFORE], *BOOKING, buffer=5 * MINUTE) == [BEFORE]
    assert conflicts([AFTER, BEFORE], *BOOKING, buffer=10 * MINUTE) == [BEFORE]
    assert conflicts([AFTER, BEFORE], *BOOKING, buffer=11 * MINUTE) == [BEFORE, AFTER]


def test_conflicts_ignores_empty_blocks() -> None:
    point = (at("2026-12-07T10:15:00Z"), at("2026-12-07T10:15:00Z"))

    assert conflicts([point], *BOOKING) == []


def test_a_negative_buffer_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="negative"):
        merge_busy([(0, 10)], buffer=-1)
    with pytest.raises(ValueError, match="negative"):
        conflicts([(0, 10)], 0, 10, buffer=-1)
    with pytest.raises(ValueError, match="negative"):
        free_slots(hours=MORNING, tz=UTC_ZONE, start=MONDAY, end=TUESDAY, busy=[], duration=60, step=60, buffer=-1)
