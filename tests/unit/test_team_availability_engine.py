"""Team availability in the engine: one user's free intervals, and the sweep that finds slots where
at least ``required`` users are free, each slot with exactly the users free for it.

The properties compare ``team_slots`` with the definition, checked slot by slot: a member is free
for ``[s, s + duration)`` when one of its free intervals contains it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import combinations
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.availability import WorkingRange, free_intervals, free_slots, parse_working_hours, team_slots

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
MINUTE, HOUR, DAY = 60, 3600, 86_400
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Intervals = list[tuple[int, int]]


def at(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def every_day(start: str, end: str) -> list[WorkingRange]:
    return parse_working_hours([(day, start, end) for day in WEEKDAYS])


def expected_slots(
    free: Sequence[Intervals], start: int, end: int, duration: int, step: int, required: int
) -> list[tuple[int, int, tuple[int, ...]]]:
    """The definition, slot by slot: every aligned start, the members one of whose intervals holds it."""
    found = []
    for s in range(start, end - duration + 1, step):
        members = tuple(
            m for m, intervals in enumerate(free) if any(a <= s and s + duration <= b for a, b in intervals)
        )
        if len(members) >= required:
            found.append((s, s + duration, members))
    return found


def disjoint(intervals: list[tuple[int, int]]) -> Intervals:
    """Sorted, disjoint, non-touching intervals from any intervals (their union)."""
    merged: Intervals = []
    for a, b in sorted(i for i in intervals if i[1] > i[0]):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


# Times on a 5-minute grid within two days, so boundaries often coincide across members.
grid_time = st.integers(min_value=0, max_value=2 * DAY // 300).map(lambda k: k * 300)
member_intervals = st.lists(st.tuples(grid_time, grid_time), max_size=8).map(disjoint)
teams = st.lists(member_intervals, min_size=1, max_size=6)
durations = st.sampled_from([5 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 90 * MINUTE])
steps = st.sampled_from([5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 25 * MINUTE, HOUR])


@settings(max_examples=300, deadline=None)
@given(teams, durations, steps, st.data())
def test_team_slots_are_exactly_the_definition(
    free: list[Intervals], duration: int, step: int, data: st.DataObject
) -> None:
    required = data.draw(st.integers(min_value=1, max_value=len(free)), label="required")
    start = data.draw(st.sampled_from([0, 300, 3600, 7 * 300]), label="start")
    end = data.draw(st.sampled_from([DAY, 2 * DAY - 1500, 2 * DAY]), label="end")

    got = team_slots(free, start=start, end=end, duration=duration, step=step, required=required)

    assert got == expected_slots(free, start, end, duration, step, required)
    for s, e, members in got:
        # a slot offered for required=N has at least N free members, and exactly the listed ones are free
        assert len(members) >= required
        assert (s - start) % step == 0
        assert e - s == duration
        assert start <= s
        assert e <= end
        for m, intervals in enumerate(free):
            assert (m in members) == any(a <= s and e <= b for a, b in intervals)


@settings(max_examples=200, deadline=None)
@given(teams, durations, steps, st.data())
def test_every_stretch_shared_by_n_members_yields_its_aligned_slots(
    free: list[Intervals], duration: int, step: int, data: st.DataObject
) -> None:
    required = data.draw(st.integers(min_value=1, max_value=len(free)), label="required")
    end = 2 * DAY
    offered = {
        s: set(members)
        for s, _, members in team_slots(free, start=0, end=end, duration=duration, step=step, required=required)
    }
    for group in combinations(range(len(free)), required):
        # where every member of the group is free: the intersection of their intervals
        shared: Intervals = [(0, end)]
        for m in group:
            shared = [(max(a, c), min(b, d)) for a, b in shared for c, d in free[m] if max(a, c) < min(b, d)]
        for a, b in shared:
            first = -(-a // step) * step
            for s in range(first, b - duration + 1, step):
                assert s in offered, (group, (a, b), s)
                assert set(group) <= offered[s]


def test_team_slots_step_from_the_window_start_and_list_who_is_free() -> None:
    # Member 0 is free 09:00-12:00, member 1 10:00-11:30, member 2 09:30-10:30 (minutes from 0).
    free = [
        [(9 * HOUR, 12 * HOUR)],
        [(10 * HOUR, 11 * HOUR + 30 * MINUTE)],
        [(9 * HOUR + 30 * MINUTE, 10 * HOUR + 30 * MINUTE)],
    ]
    every = team_slots(free, start=0, end=DAY, duration=HOUR, step=30 * MINUTE, required=3)
    assert every == []  # no hour in which all three are free
    two = team_slots(free, start=0, end=DAY, duration=HOUR, step=30 * MINUTE, required=2)
    assert [(s // 60, m) for s, _, m in two] == [(570, (0, 2)), (600, (0, 1)), (630, (0, 1))]
    one = team_slots(free, start=15 * MINUTE, end=DAY, duration=HOUR, step=30 * MINUTE, required=1)
    assert [(s // 60, m) for s, _, m in one] == [
        (555, (0,)),
        (585, (0,)),
        (615, (0, 1)),
        (645, (0,)),
    ]  # fmt: skip  09:15 ... 10:45: member 2 leaves at 10:30, member 1 at 11:30, member 0 at 12:00


def test_team_slots_refuse_a_required_count_outside_the_team() -> None:
    with pytest.raises(ValueError, match="required"):
        team_slots([[(0, HOUR)]], start=0, end=DAY, duration=HOUR, step=HOUR, required=2)
    with pytest.raises(ValueError, match="required"):
        team_slots([[(0, HOUR)]], start=0, end=DAY, duration=HOUR, step=HOUR, required=0)
    with pytest.raises(ValueError, match="positive"):
        team_slots([[(0, HOUR)]], start=0, end=DAY, duration=0, step=HOUR, required=1)


def test_three_zones_across_the_berlin_and_new_york_changes() -> None:
    """09:00-17:00 in Berlin, New York and Tokyo, the week New York (Mar 9) and then Berlin (Mar 30)
    move to summer time in 2025; Tokyo has none. Free hours shared by all three only exist once
    New York is on summer time and Berlin not yet: 07:00-08:00 New York = 12:00-13:00 Berlin...
    never inside Tokyo's 09:00-17:00 (00:00-08:00Z). So required=all finds nothing, and pairs find
    the overlaps, which shift by one hour at each change."""
    hours = parse_working_hours([(day, "09:00", "17:00") for day in WEEKDAYS[:5]])
    start, end = at("2025-03-03T00:00:00Z"), at("2025-04-05T00:00:00Z")
    free = [free_intervals(hours=hours, tz=zone, start=start, end=end, busy=[]) for zone in (BERLIN, NEW_YORK, TOKYO)]
    assert team_slots(free, start=start, end=end, duration=HOUR, step=HOUR, required=3) == []
    pairs = team_slots(free, start=start, end=end, duration=HOUR, step=HOUR, required=2)

    def utc_hours(day: str, members: tuple[int, ...]) -> list[int]:
        return [
            datetime.fromtimestamp(s, UTC).hour
            for s, _, m in pairs
            if datetime.fromtimestamp(s, UTC).date().isoformat() == day and m == members
        ]

    # Berlin (08:00-16:00Z in winter) with New York (14:00-22:00Z in winter, 13:00-21:00Z in summer)
    assert utc_hours("2025-03-07", (0, 1)) == [14, 15]  # Friday, both on winter time
    assert utc_hours("2025-03-10", (0, 1)) == [13, 14, 15]  # Monday, New York on summer time
    assert utc_hours("2025-03-31", (0, 1)) == [13, 14]  # Monday, Berlin too (07:00-15:00Z)
    # Berlin with Tokyo (00:00-08:00Z): the Berlin day starts at 08:00Z in winter, 07:00Z in summer
    assert utc_hours("2025-03-28", (0, 2)) == []
    assert utc_hours("2025-03-31", (0, 2)) == [7]


def test_free_intervals_leave_out_busy_time_buffers_notice_and_short_gaps() -> None:
    hours = parse_working_hours([("mon", "09:00", "12:00"), ("mon", "13:00", "17:00")])
    monday = at("2030-12-02T00:00:00Z")  # Berlin is on +01:00
    busy = [
        (at("2030-12-02T09:00:00Z"), at("2030-12-02T09:30:00Z")),
        (at("2030-12-02T12:40:00Z"), at("2030-12-02T13:00:00Z")),
    ]
    got = free_intervals(
        hours=hours, tz=BERLIN, start=monday, end=monday + DAY, busy=busy, buffer=10 * MINUTE,
        earliest=at("2030-12-02T08:15:00Z"), min_length=30 * MINUTE,
    )  # fmt: skip
    assert got == [
        (at("2030-12-02T08:15:00Z"), at("2030-12-02T08:50:00Z")),
        (at("2030-12-02T09:40:00Z"), at("2030-12-02T11:00:00Z")),
        (at("2030-12-02T12:00:00Z"), at("2030-12-02T12:30:00Z")),
        (at("2030-12-02T13:10:00Z"), at("2030-12-02T16:00:00Z")),
    ]


def test_free_intervals_join_a_night_worked_through() -> None:
    start = at("2030-12-02T00:00:00Z")
    got = free_intervals(
        hours=every_day("00:00", "24:00"), tz=ZoneInfo("UTC"), start=start, end=start + 3 * DAY, busy=[]
    )
    assert got == [(start, start + 3 * DAY)]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 7 * DAY // 300), st.integers(1, 36)), max_size=30),
    st.sampled_from([BERLIN, NEW_YORK, TOKYO]),
    st.sampled_from([0, 5 * MINUTE, 15 * MINUTE]),
)
def test_one_member_gets_the_slots_of_its_free_intervals(
    raw_busy: list[tuple[int, int]], zone: ZoneInfo, buffer: int
) -> None:
    """With one member and a step that divides every working range's offset, the team sweep and
    the one-user engine offer the same slots."""
    start = at("2030-03-25T00:00:00Z")  # the week after Berlin's change
    end = start + 7 * DAY
    busy = [(start + k * 300, start + k * 300 + n * 300) for k, n in raw_busy]
    hours = parse_working_hours([(day, "09:00", "17:00") for day in WEEKDAYS[:5]])
    free = free_intervals(hours=hours, tz=zone, start=start, end=end, busy=busy, buffer=buffer, min_length=30 * MINUTE)
    team = team_slots([free], start=start, end=end, duration=30 * MINUTE, step=30 * MINUTE, required=1)
    single = free_slots(
        hours=hours, tz=zone, start=start, end=end, busy=busy, duration=30 * MINUTE, step=30 * MINUTE, buffer=buffer
    )
    # Working ranges start on the hour, so from a midnight-UTC start both align the same (Tokyo, New York,
    # Berlin offsets are whole hours); the team slots are the one-user slots.
    assert [(s, e) for s, e, _ in team] == single
    assert all(m == (0,) for _, _, m in team)
