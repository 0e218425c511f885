"""The deprecation headers: ``Deprecation`` (RFC 9745), ``Sunset`` (RFC 8594) and
``Link: <guide>; rel="deprecation"``.

A response can be deprecated twice over (a deprecated route called with a deprecated
``Hub-Version``). ``announce`` merges: the earliest deprecation and sunset win, and every guide
is linked.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from email.utils import format_datetime, parsedate_to_datetime

from litestar.datastructures import MutableScopeHeaders

from hub.versioning.registry import Deprecation


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def deprecation_value(day: date) -> str:
    """RFC 9745: a Structured Field Date, ``@`` and the Unix time."""
    return f"@{int(_midnight(day).timestamp())}"


def sunset_value(day: date) -> str:
    """RFC 8594: an HTTP-date, e.g. ``Sat, 01 May 2027 00:00:00 GMT``."""
    return format_datetime(_midnight(day), usegmt=True)


def link_value(guide: str) -> str:
    return f'<{guide}>; rel="deprecation"'


def headers_for(entry: Deprecation) -> dict[str, str]:
    """The three headers announcing ``entry``."""
    return {
        "Deprecation": deprecation_value(entry.deprecated_at),
        "Sunset": sunset_value(entry.sunset),
        "Link": link_value(entry.guide),
    }


def announce(headers: MutableScopeHeaders, entry: Deprecation) -> None:
    """Add ``entry``'s headers to a response's headers, merging with any already there."""
    deprecation = headers.get("deprecation")
    if deprecation is None or _deprecation_time(deprecation) > _midnight(entry.deprecated_at).timestamp():
        headers["Deprecation"] = deprecation_value(entry.deprecated_at)
    sunset = headers.get("sunset")
    if sunset is None or _sunset_time(sunset) > _midnight(entry.sunset):
        headers["Sunset"] = sunset_value(entry.sunset)
    link = link_value(entry.guide)
    existing = headers.get("link")
    if existing is None:
        headers["Link"] = link
    elif link not in existing:
        headers["Link"] = f"{existing}, {link}"


def _deprecation_time(value: str) -> float:
    try:
        return float(value.lstrip("@"))
    except ValueError:
        return float("inf")


def _sunset_time(value: str) -> datetime:
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return datetime.max.replace(tzinfo=UTC)
