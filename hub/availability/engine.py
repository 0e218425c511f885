"""Availability arithmetic: working hours, busy time and free slots.

Everything here is pure. Instants are integer epoch seconds (UTC) and every interval is
half-open, ``[start, end)``: two intervals that only touch do not overlap.

Working hours are local wall-clock ranges per weekday. They become UTC *windows* one local date
at a time through ``zoneinfo``, so a DST change moves them correctly. A wall time that falls in
a DST gap maps forward the way ``zoneinfo`` does with ``fold=0`` (02:30 on a spring-forward night
in Berlin is read as 03:30 CEST), and a range ending at ``24:00`` ends at the next local midnight.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache
from itertools import compress, islice, repeat
from operator import add, lt
from typing import NamedTuple
from zoneinfo import ZoneInfo

import msgspec

from hub.errors import FieldError

__all__ = [
    "WEEKDAYS",
    "WorkingRange",
    "conflicts",
    "fits_working_hours",
    "free_intervals",
    "free_slots",
    "merge_busy",
    "parse_working_hours",
    "stored_working_hours",
    "team_slots",
    "working_windows",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 1440

_HH_MM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])|(24):(00)")

# One tuple of merged (start_minute, end_minute) ranges per weekday, Monday first.
_WeekRanges = tuple[tuple[tuple[int, int], ...], ...]


class WorkingRange(msgspec.Struct, frozen=True):
    """One weekly working range in local wall-clock minutes since local midnight.

    ``weekday`` is 0 (Monday) to 6 (Sunday); ``end`` may be 1440, meaning ``24:00``.
    """

    weekday: int
    start: int
    end: int


def parse_working_hours(items: list[tuple[str, str, str]]) -> list[WorkingRange]:
    """Turn ``(weekday, "HH:MM", "HH:MM")`` triples into ``WorkingRange`` values, in order.

    ``weekday`` is one of ``WEEKDAYS``; times are two-digit ``HH:MM``; ``24:00`` is accepted as
    an end only, and the end must come after the start. The first problem raises a
    ``FieldError`` naming the field, e.g. ``working_hours[2].end``.
    """
    ranges: list[WorkingRange] = []
    for index, (weekday, start, end) in enumerate(items):
        field = f"working_hours[{index}]"
        if weekday not in WEEKDAYS:
            raise FieldError(f"{field}.weekday", f"must be one of {', '.join(WEEKDAYS)}")
        start_minute = _parse_minute(start, f"{field}.start", allow_midnight_end=False)
        end_minute = _parse_minute(end, f"{field}.end", allow_midnight_end=True)
        if end_minute <= start_minute:
            raise FieldError(f"{field}.end", "must be later than start")
        ranges.append(WorkingRange(weekday=WEEKDAYS.index(weekday), start=start_minute, end=end_minute))
    return ranges


@lru_cache(maxsize=4096)
def stored_working_hours(items: tuple[tuple[str, str, str], ...]) -> tuple[WorkingRange, ...]:
    """``parse_working_hours`` of a user's stored hours, remembered: every booking and
    availability request reads its hosts' hours, and the same few weeks come again and again."""
    return tuple(parse_working_hours(list(items)))


def _parse_minute(value: object, field: str, *, allow_midnight_end: bool) -> int:
    match = _HH_MM.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        hint = "00:00 to 24:00" if allow_midnight_end else "00:00 to 23:59"
        raise FieldError(field, f"must be a time of day as HH:MM, {hint}")
    if match.group(3) is not None:
        if not allow_midnight_end:
            raise FieldError(field, "24:00 is only allowed as the end of a range")
        return MINUTES_PER_DAY
    return int(match.group(1)) * 60 + int(match.group(2))


@lru_cache(maxsize=1024)
def _week_ranges(hours: tuple[WorkingRange, ...]) -> _WeekRanges:
    """Ranges per weekday, sorted, with overlapping or touching ranges merged."""
    week: list[list[tuple[int, int]]] = [[] for _ in WEEKDAYS]
    for item in sorted(hours, key=lambda r: (r.weekday, r.start, r.end)):
        day = week[item.weekday]
        if day and item.start <= day[-1][1]:
            day[-1] = (day[-1][0], max(day[-1][1], item.end))
        else:
            day.append((item.start, item.end))
    return tuple(tuple(day) for day in week)


def _local_epoch(tz: ZoneInfo, day: date, minute: int) -> int:
    if minute >= MINUTES_PER_DAY:
        day, minute = day + timedelta(days=1), minute - MINUTES_PER_DAY
    hour, minute = divmod(minute, 60)
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz).timestamp())


@lru_cache(maxsize=65536)
def _day_windows(ranges: tuple[tuple[int, int], ...], tz: ZoneInfo, ordinal: int) -> tuple[tuple[int, int], ...]:
    """UTC windows of one local date; windows the conversion made overlap or touch are merged."""
    day = date.fromordinal(ordinal)
    windows: list[tuple[int, int]] = []
    for start_minute, end_minute in ranges:
        start, end = _local_epoch(tz, day, start_minute), _local_epoch(tz, day, end_minute)
        if end <= start:
            continue
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], end))
        else:
            windows.append((start, end))
    return tuple(windows)


def working_windows(hours: Sequence[WorkingRange], tz: ZoneInfo, start: int, end: int) -> list[tuple[int, int]]:
    """UTC windows of working time that intersect ``[start, end)``, sorted and unclipped.

    Each window is one merged range of one local date; its start is where slot alignment begins.
    """
    if end <= start or not hours:
        return []
    week = _week_ranges(tuple(hours))
    first = datetime.fromtimestamp(start, tz).date().toordinal() - 1
    last = datetime.fromtimestamp(end, tz).date().toordinal()
    windows: list[tuple[int, int]] = []
    for ordinal in range(first, last + 1):
        ranges = week[(ordinal - 1) % 7]  # date.fromordinal(1) is a Monday
        if not ranges:
            continue
        for window in _day_windows(ranges, tz, ordinal):
            if window[0] >= end or window[1] <= start:
                continue
            if windows and window[0] < windows[-1][1]:
                # Only possible around a DST change at midnight: keep the earlier start.
                windows[-1] = (windows[-1][0], max(windows[-1][1], window[1]))
            else:
                windows.append(window)
    return windows


class _Busy(NamedTuple):
    """Merged busy time as parallel sorted lists, stored relative to two offsets.

    The ``k``-th merged block is ``[starts[k] + start_offset, ends[k] + end_offset)``. Storing
    numbers below 2**30 keeps them one-digit CPython ints, which sort markedly faster.
    """

    starts: list[int]
    ends: list[int]
    start_offset: int
    end_offset: int


def _merged(busy: Iterable[tuple[int, int]], buffer: int, base: int | None = None) -> _Busy:
    """Merge busy blocks widened by ``buffer``; empty blocks (end <= start) are ignored.

    Starts and ends are sorted separately: the union of the blocks breaks after the k-th
    smallest end exactly when that end comes before the (k+1)-th smallest start.
    """
    if buffer < 0:
        raise ValueError("buffer must not be negative")
    blocks = busy if isinstance(busy, list) else list(busy)
    if base is None:
        base = blocks[0][0] if blocks else 0
    starts = [block[0] - base for block in blocks]
    ends = [block[1] - base for block in blocks]
    if not all(map(lt, starts, ends)):
        kept = [(s, e) for s, e in zip(starts, ends, strict=True) if s < e]
        starts = [s for s, _ in kept]
        ends = [e for _, e in kept]
    if not starts:
        return _Busy([], [], base, base)
    starts.sort()
    ends.sort()
    gap = 2 * buffer
    reach = list(map(add, ends, repeat(gap))) if gap else ends
    breaks = list(map(lt, reach, islice(starts, 1, None)))
    merged_starts = [starts[0], *compress(islice(starts, 1, None), breaks)]
    merged_ends = [*compress(ends, breaks), ends[-1]]
    return _Busy(merged_starts, merged_ends, base - buffer, base + buffer)


def merge_busy(busy: Iterable[tuple[int, int]], buffer: int = 0) -> list[tuple[int, int]]:
    """Busy blocks widened by ``buffer`` seconds on both sides, sorted, overlaps and touches merged."""
    merged = _merged(busy, buffer)
    return [
        (start + merged.start_offset, end + merged.end_offset)
        for start, end in zip(merged.starts, merged.ends, strict=True)
    ]


def _free_runs(
    hours: Sequence[WorkingRange],
    tz: ZoneInfo,
    start: int,
    end: int,
    busy: Iterable[tuple[int, int]],
    buffer: int,
    earliest: int | None,
) -> list[tuple[int, int, int]]:
    """Free runs ``(window_start, free_from, free_to)``, sorted: each the free part of one working
    window inside ``[max(start, earliest), end)`` between busy blocks widened by ``buffer``.

    The merged blocks are sorted and disjoint, so within one window the free time is the gaps
    between the blocks that reach into it: from the window's start (or the end of the block
    before) to the start of each block, and from the last block's end to the window's end. The
    gaps are built list by list rather than block by block (a busy calendar has a block per
    meeting); a gap that the window's edges make empty is left out.
    """
    lower = start if earliest is None else max(start, earliest)
    windows = working_windows(hours, tz, lower, end)
    if not windows:
        return []
    low, high = lower - buffer, end + buffer
    relevant = [block for block in busy if block[0] < high and block[1] > low]
    busy_starts, busy_ends, start_offset, end_offset = _merged(relevant, buffer, base=start)
    runs: list[tuple[int, int, int]] = []
    for window_start, window_end in windows:
        free_from, until = max(window_start, lower), min(window_end, end)
        # the blocks ending after free_from and starting before until: [first, last)
        first = bisect_right(busy_ends, free_from - end_offset)
        last = bisect_left(busy_starts, until - start_offset, first)
        froms = [free_from, *map(add, busy_ends[first:last], repeat(end_offset))]
        tos = [*map(add, busy_starts[first:last], repeat(start_offset)), until]
        runs += [(window_start, f, t) for f, t in zip(froms, tos, strict=True) if f < t]
    return runs


def free_slots(
    *,
    hours: Sequence[WorkingRange],
    tz: ZoneInfo,
    start: int,
    end: int,
    busy: Iterable[tuple[int, int]],
    duration: int,
    step: int,
    buffer: int = 0,
    earliest: int | None = None,
) -> list[tuple[int, int]]:
    """Free slots ``(s, s + duration)`` within ``[start, end)``, sorted.

    A slot starts at ``window_start + k * step`` for some working window, lies inside that window
    and inside ``[start, end)``, starts no earlier than ``earliest`` when given, and does not
    overlap any busy block widened by ``buffer`` seconds.
    """
    if duration <= 0 or step <= 0:
        raise ValueError("duration and step must be positive")
    starts: list[int] = []
    for window_start, free_from, free_to in _free_runs(hours, tz, start, end, busy, buffer, earliest):
        first = window_start + -(-(free_from - window_start) // step) * step
        starts += range(first, free_to - duration + 1, step)
    return [(s, s + duration) for s in starts]


def free_intervals(
    *,
    hours: Sequence[WorkingRange],
    tz: ZoneInfo,
    start: int,
    end: int,
    busy: Iterable[tuple[int, int]],
    buffer: int = 0,
    earliest: int | None = None,
    min_length: int = 1,
) -> list[tuple[int, int]]:
    """One user's free time in ``[start, end)`` as sorted, disjoint intervals that do not touch.

    Free time is working time (``working_windows``) from ``earliest`` on that no busy block
    widened by ``buffer`` overlaps. Free parts of touching working windows (a range ending at
    ``24:00`` and the next day's starting at ``00:00``) are one interval, as in
    ``fits_working_hours``. Intervals shorter than ``min_length`` seconds are left out.
    """
    merged: list[tuple[int, int]] = []
    for _, free_from, free_to in _free_runs(hours, tz, start, end, busy, buffer, earliest):
        if merged and free_from <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], free_to))
        else:
            merged.append((free_from, free_to))
    return [interval for interval in merged if interval[1] - interval[0] >= min_length]


# Sweep events are single ints: (offset from the window start) << 7 | kind << 6 | member, where
# kind 0 (a free interval ends) sorts before 1 (one starts) at the same instant.
_MEMBER_BITS = 6
_KIND_BIT = 1 << _MEMBER_BITS
_TIME_SHIFT = _MEMBER_BITS + 1
MAX_MEMBERS = _KIND_BIT


def team_slots(
    free: Sequence[Sequence[tuple[int, int]]],
    *,
    start: int,
    end: int,
    duration: int,
    step: int,
    required: int,
) -> list[tuple[int, int, tuple[int, ...]]]:
    """Slots where at least ``required`` members are free, each with exactly the members free for it.

    ``free[m]`` is member ``m``'s free time as sorted, disjoint, non-touching intervals (what
    ``free_intervals`` returns). Slot starts are ``start + k * step``; a slot ``(s, s +
    duration)`` lies inside ``[start, end)`` and member ``m`` is free for it when one interval
    of ``free[m]`` contains it. The answer is sorted by start; each slot's members are in
    ascending order.

    One sweep over the sorted interval boundaries of all members yields the elementary segments
    in which the set of free members is constant, each member with the end of the interval it
    is in. Only segments with at least ``required`` members get slots, and only starts early
    enough for the ``required``-th latest end: no slot is tried where it cannot be offered.
    """
    if duration <= 0 or step <= 0:
        raise ValueError("duration and step must be positive")
    if not 1 <= required <= len(free) <= MAX_MEMBERS:
        raise ValueError(f"required must be 1 to the number of members (at most {MAX_MEMBERS})")
    events: list[int] = []
    member_ends: list[list[int]] = []  # per member, the ends of its intervals in order
    for member, intervals in enumerate(free):
        kept: list[int] = []
        for low, high in intervals:
            low, high = max(low, start) - start, min(high, end) - start
            if high - low >= duration:
                events.append(low << _TIME_SHIFT | _KIND_BIT | member)
                events.append(high << _TIME_SHIFT | member)
                kept.append(high)
        member_ends.append(kept)
    events.sort()
    taken = [0] * len(free)
    ends: dict[int, int] = {}  # member -> the end of its current free interval (offset from start)
    slots: list[tuple[int, int, tuple[int, ...]]] = []
    index, count = 0, len(events)
    while index < count:
        moment = events[index] >> _TIME_SHIFT
        while index < count and events[index] >> _TIME_SHIFT == moment:
            member = events[index] & (_KIND_BIT - 1)
            if events[index] & _KIND_BIT:
                ends[member] = member_ends[member][taken[member]]
                taken[member] += 1
            else:
                del ends[member]
            index += 1
        if len(ends) >= required and index < count:
            segment = (moment, events[index] >> _TIME_SHIFT)
            slots.extend(_segment_slots(ends, segment, start, duration, step, required))
    return slots


def _segment_slots(
    ends: dict[int, int], segment: tuple[int, int], base: int, duration: int, step: int, required: int
) -> list[tuple[int, int, tuple[int, ...]]]:
    """The slots starting in one elementary segment ``[low, high)`` (offsets from ``base``), where
    member ``m`` of ``ends`` is free until ``ends[m]``."""
    low, high = segment
    latest_ends = sorted(ends.values(), reverse=True)
    last = min(high - 1, latest_ends[required - 1] - duration)  # the latest start with enough members
    first = -(-low // step) * step
    if first > last:
        return []
    members = sorted(ends.items())
    if latest_ends[-1] >= last + duration:  # every member is free for every slot of the segment
        everyone = tuple(m for m, _ in members)
        return [(base + s, base + s + duration, everyone) for s in range(first, last + 1, step)]
    return [
        (base + s, base + s + duration, tuple(m for m, e in members if e >= s + duration))
        for s in range(first, last + 1, step)
    ]


def fits_working_hours(hours: Sequence[WorkingRange], tz: ZoneInfo, start: int, end: int) -> bool:
    """Whether ``[start, end)`` lies entirely inside working time.

    Windows that touch (a range ending at ``24:00`` and the next day's range starting at
    ``00:00``) count as one stretch of working time.
    """
    if end <= start:
        return False
    covered = start
    for window_start, window_end in working_windows(hours, tz, start, end):
        if window_start > covered:
            return False
        covered = max(covered, window_end)
        if covered >= end:
            return True
    return False


def conflicts(busy: Sequence[tuple[int, int]], start: int, end: int, buffer: int = 0) -> list[tuple[int, int]]:
    """Busy blocks, as given and sorted, that overlap ``[start - buffer, end + buffer)``.

    Empty blocks (end <= start) never conflict.
    """
    if buffer < 0:
        raise ValueError("buffer must not be negative")
    low, high = start - buffer, end + buffer
    return sorted(block for block in busy if block[0] < high and block[1] > low and block[0] < block[1])
