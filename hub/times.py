"""Reading and writing the times of the API.

Requests carry RFC 3339 instants with an offset (``2026-12-07T09:00:00+01:00``, ``...Z``) or local
wall-clock times without one (``2026-12-07T09:00:00``, seconds optional) read in an IANA time
zone. A local time that a DST change skips (a gap) or repeats (an overlap) is refused with its
own error code, because guessing would book the wrong hour. Responses carry UTC with ``Z`` and,
where useful, the same instant rendered in a zone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from hub.errors import FieldError

__all__ = ["load_zone", "parse_instant", "supported_instant", "to_local_rfc3339", "to_rfc3339_utc"]

_INSTANT = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})?"
)
_DATE_ONLY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# A "+01:00" offset sent unencoded in a query string arrives with the "+" decoded as a space.
_PLUS_AS_SPACE = re.compile(r".*[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)? [0-9]{2}:[0-9]{2}")
_EXAMPLE = "2026-12-07T09:00:00+01:00"
# Names in the database that are not real zones: host-dependent links and a placeholder.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones() - _NOT_ZONES)


def load_zone(name: str, field: str = "timezone") -> ZoneInfo:
    """The IANA time zone called ``name`` (``Europe/Berlin``, ``UTC``), case-sensitive.

    Anything else, including paths and non-strings, raises ``FieldError`` with code
    ``unknown_timezone``.
    """
    value: object = name
    if not isinstance(value, str) or value not in _zone_names():
        raise FieldError(
            field,
            "must be an IANA time zone name such as Europe/Berlin or America/New_York",
            code="unknown_timezone",
            title="Unknown time zone",
        )
    return ZoneInfo(value)


MIN_YEAR, MAX_YEAR = 1970, 2199  # far enough for any calendar; far from datetime's limits


def supported_instant(value: datetime, *, field: str) -> datetime:
    """``value`` in UTC, if it has an offset and falls in the years ``MIN_YEAR``..``MAX_YEAR``.

    Every instant that reaches Hub already parsed (a query parameter read by the framework, a
    time inside a cursor) passes here before it is compared or stored: an instant near
    datetime's limits, such as ``9999-12-31T23:59:59-14:00``, cannot even be converted to UTC.
    Anything else raises ``FieldError`` naming ``field``.
    """
    if value.utcoffset() is None:
        raise FieldError(field, f"must include a UTC offset, e.g. {_EXAMPLE}")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise FieldError(field, f"must be between the years {MIN_YEAR} and {MAX_YEAR} (in UTC)")
    return utc


def parse_instant(value: str, *, field: str, zone: ZoneInfo | None) -> datetime:
    """The instant ``value`` denotes, as an aware UTC datetime.

    With an offset the offset decides and ``zone`` is not used. Without one the wall-clock time
    is read in ``zone``; a missing zone, a time skipped by a DST gap or repeated by a DST
    overlap, and anything that is not a date and time raise ``FieldError``.
    """
    text: object = value
    match = _INSTANT.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise FieldError(field, _unreadable(text))
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if not MIN_YEAR <= int(year) <= MAX_YEAR:
        raise FieldError(field, f"must be between the years {MIN_YEAR} and {MAX_YEAR}")
    try:
        wall = datetime(  # noqa: DTZ001 - a wall-clock time; its offset or zone is applied below
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "")[:6].ljust(6, "0")),
        )
        if offset is not None:
            return wall.replace(tzinfo=_offset(offset)).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise FieldError(field, f"is not a valid date and time ({exc})") from None
    if zone is None:
        raise FieldError(field, "has no UTC offset; send an offset or a `timezone`")
    return _resolve_local(wall, zone, field)


def _unreadable(value: object) -> str:
    if not isinstance(value, str):
        return f"must be a string holding a date and time such as {_EXAMPLE}"
    if _DATE_ONLY.fullmatch(value):
        return f"must be a date and time, not only a date, such as {value}T09:00:00+01:00"
    if _PLUS_AS_SPACE.fullmatch(value):
        return "has a space where the offset's '+' should be; percent-encode '+' as %2B in URLs"
    return f"must be an RFC 3339 date and time such as {_EXAMPLE} or a local time such as 2026-12-07T09:00:00"


def _offset(text: str) -> timezone:
    if text in ("Z", "z"):
        return UTC
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 23 or minutes > 59:
        raise ValueError(f"offset {text} is out of range")
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if text[0] == "-" else delta)


def local_instant(wall: datetime, zone: ZoneInfo, *, field: str) -> datetime:
    """The UTC instant of the naive wall time ``wall`` in ``zone``; a time in a DST gap raises
    ``nonexistent_local_time``, one in an overlap ``ambiguous_local_time`` (as ``parse_instant``)."""
    return _resolve_local(wall, zone, field)


def _resolve_local(wall: datetime, zone: ZoneInfo, field: str) -> datetime:
    """Read a naive wall time in ``zone``, refusing times in a DST gap or overlap."""
    early, late = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    early_offset, late_offset = early.utcoffset(), late.utcoffset()
    try:
        if early_offset == late_offset:
            return early.astimezone(UTC)
        round_trip = early.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    except OverflowError as exc:
        raise FieldError(field, f"is not a valid date and time ({exc})") from None
    assert early_offset is not None  # a ZoneInfo always has an offset
    assert late_offset is not None
    if round_trip != wall:
        before, after = min(early_offset, late_offset), max(early_offset, late_offset)
        jump = _transition(wall, zone, before, after)
        raise FieldError(
            field,
            f"{wall.isoformat()} does not exist in {zone} (clocks jump from {_clock(jump + before)} to "
            f"{_clock(jump + after)}); send a time outside the gap or with an offset",
            code="nonexistent_local_time",
            title="Nonexistent local time",
        )
    raise FieldError(
        field,
        f"{wall.isoformat()} happens twice in {zone} (at {_format_offset(early_offset)} and "
        f"{_format_offset(late_offset)}); send an offset, e.g. {wall.isoformat()}{_format_offset(early_offset)}",
        code="ambiguous_local_time",
        title="Ambiguous local time",
    )


def _transition(wall: datetime, zone: ZoneInfo, before: timedelta, after: timedelta) -> datetime:
    """The UTC instant (naive) of the transition that skips ``wall``, to the second."""
    low, high = wall - after, wall - before  # the transition lies in (low, high]
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) // 2
        if middle.replace(tzinfo=UTC).astimezone(zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return high


def _clock(moment: datetime) -> str:
    return moment.strftime("%H:%M:%S" if moment.second else "%H:%M")


def _format_offset(offset: timedelta) -> str:
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(offset) // timedelta(minutes=1)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def to_rfc3339_utc(dt: datetime) -> str:
    """``dt`` (aware) in UTC as ``2026-12-07T08:00:00Z``; microseconds only when non-zero."""
    if dt.utcoffset() is None:
        raise ValueError("a naive datetime has no instant to render")
    return dt.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


_LOCAL_LENGTH = len("2026-12-07T09:00:00+01:00")  # whole seconds and an offset of whole minutes


def epoch_to_local_rfc3339(seconds: int, zone: ZoneInfo) -> str:
    """Epoch seconds as wall-clock time in ``zone`` with its offset (the hot path of slot lists)."""
    local = datetime.fromtimestamp(seconds, zone)
    text = local.isoformat()
    if len(text) != _LOCAL_LENGTH:  # an offset with seconds, ``+HH:MM:SS`` (historical zones only)
        return to_local_rfc3339(local, zone)
    return text


def to_local_rfc3339(dt: datetime, zone: ZoneInfo) -> str:
    """``dt`` (aware) as wall-clock time in ``zone`` with its offset: ``2026-12-07T09:00:00+01:00``.

    RFC 3339 offsets have whole minutes; for the rare historical offset with seconds the instant
    is rendered at that offset cut to whole minutes, so the instant stays exact.
    """
    if dt.utcoffset() is None:
        raise ValueError("a naive datetime has no instant to render")
    local = dt.astimezone(zone)
    offset = local.utcoffset()
    if offset is not None and offset % timedelta(minutes=1):
        whole = timedelta(minutes=int(offset / timedelta(minutes=1)))
        local = dt.astimezone(timezone(whole))
    return local.isoformat()
