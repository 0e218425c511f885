"""Wire shapes of booking series (recurring bookings)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from hub.bookings.assignment import Assignment
from hub.text import text

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
MAX_OCCURRENCES = 52


class RecurrenceIn(msgspec.Struct):
    """``recurrence`` of ``POST /v1/bookings``: the rule the booking repeats by."""

    frequency: Literal["daily", "weekly", "monthly"]
    interval: Annotated[int, msgspec.Meta(ge=1, le=MAX_OCCURRENCES)] = 1
    count: Annotated[int, msgspec.Meta(ge=2, le=MAX_OCCURRENCES)] | None = None
    until: Annotated[str, text(max_length=10, examples=["2027-03-01"])] | None = None
    """The last day an occurrence may fall on (inclusive), ``YYYY-MM-DD`` in the booking's zone."""
    weekdays: Annotated[list[Weekday], msgspec.Meta(min_length=1, max_length=7)] | None = None
    on_conflict: Literal["fail", "skip"] = "fail"


class Recurrence(msgspec.Struct):
    """The rule as a series shows it (defaults filled in)."""

    frequency: str
    interval: int
    count: int | None
    until: str | None
    weekdays: list[str] | None
    on_conflict: str


class Skipped(msgspec.Struct):
    """An occurrence that was not booked: its start and the error code a single booking got."""

    start: datetime
    code: str


class SeriesCancel(msgspec.Struct):
    scope: Literal["all", "following"] = "all"
    from_booking_id: Annotated[str, text(max_length=64)] | None = None
    reason: Annotated[str, text(max_length=1000)] | None = None


class SeriesOut(msgspec.Struct):
    id: str
    host_id: str
    host_ids: list[str]
    """Every host of the series (its occurrences' hosts), ``host_id`` first."""
    timezone: str
    recurrence: Recurrence
    status: Literal["active", "cancelled"]
    booking_ids: list[str]
    skipped: list[Skipped]
    created_at: datetime
    updated_at: datetime
    assignment: Assignment | None = None
    """How Hub chose a round-robin series' host (``host_pool``), as on each of its occurrences;
    ``null`` otherwise."""
    object: str = "booking_series"
