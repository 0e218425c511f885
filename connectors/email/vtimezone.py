"""A VTIMEZONE component for an IANA zone, computed from ``zoneinfo``.

Each observance's ``DTSTART`` is the onset as a local time in the offset *before* the change
(RFC 5545 §3.6.5: "TZOFFSETFROM is combined with DTSTART to define the effective onset"), so
Europe/Berlin's daylight time starts at 02:00 and its standard time at 03:00. The component
covers whole calendar years around the event, one observance per change, with no rules to
expand: every client reads it the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from icalendar import Timezone, TimezoneDaylight, TimezoneStandard

_STEP = 6 * 3600  # seconds; zones never change twice within six hours


class _State(NamedTuple):
    offset: timedelta
    dst: timedelta
    name: str


def _state(zone: ZoneInfo, epoch: int) -> _State:
    local = datetime.fromtimestamp(epoch, zone)
    offset = local.utcoffset() or timedelta(0)
    return _State(offset, local.dst() or timedelta(0), local.tzname() or _offset_name(offset))


def _offset_name(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


@lru_cache(maxsize=1024)
def _transitions(zone: ZoneInfo, first: int, last: int) -> tuple[tuple[int, _State, _State], ...]:
    """Every change of offset, DST flag or name in ``[first, last)`` (epoch seconds).

    Remembered per zone and span: the answer depends on nothing else (a process reads a
    zone's rules once), and finding it takes about 1,500 lookups a year, which made it most of
    the cost of building an invitation's calendar."""
    found: list[tuple[int, _State, _State]] = []
    at, state = first, _state(zone, first)
    while at < last:
        nxt = min(at + _STEP, last)
        if _state(zone, nxt) == state:
            at = nxt
            continue
        low, high = at, nxt  # state(low) == state, state(high) != state
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if _state(zone, middle) == state else (low, middle)
        after = _state(zone, high)
        found.append((high, state, after))
        at, state = high, after
    return tuple(found)


def _observance(before: _State, after: _State, onset_local: datetime) -> TimezoneStandard | TimezoneDaylight:
    component = TimezoneDaylight() if after.dst > timedelta(0) else TimezoneStandard()
    component.add("DTSTART", onset_local)
    component.add("TZOFFSETFROM", before.offset)
    component.add("TZOFFSETTO", after.offset)
    component.add("TZNAME", after.name)
    return component


def vtimezone(zone: ZoneInfo, start: datetime, end: datetime) -> Timezone:
    """The VTIMEZONE for ``zone`` covering the calendar years of ``start`` through ``end``."""
    first_year, last_year = start.astimezone(zone).year, end.astimezone(zone).year
    first = int(datetime(first_year, 1, 1, tzinfo=zone).timestamp())
    last = int(datetime(last_year + 1, 1, 1, tzinfo=zone).timestamp())
    component = Timezone()
    component.add("TZID", zone.key)
    initial = _state(zone, first)
    component.add_component(_observance(initial, initial, datetime(first_year, 1, 1)))  # noqa: DTZ001
    for epoch, before, after in _transitions(zone, first, last):
        onset = datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None) + before.offset
        component.add_component(_observance(before, after, onset))
    return component
