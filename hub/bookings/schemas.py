"""Wire shapes of bookings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from hub.errors import FieldError
from hub.series.schemas import RecurrenceIn
from hub.text import line, nul_in_json, text
from hub.users.schemas import Email, TimezoneName

Title = Annotated[str, line(max_length=500)]
Field = Annotated[str, text()]
"""An id, a time or a zone as sent: no NUL (the field's own rules come after)."""


class Attendee(msgspec.Struct):
    email: Email
    name: Annotated[str, line(max_length=200)] | None = None


class BookingCreate(msgspec.Struct):
    host_id: Field
    start: Annotated[str, text(examples=["2026-12-07T09:00:00", "2026-12-07T08:00:00Z"])]
    end: Field | None = None
    duration_minutes: Annotated[int, msgspec.Meta(ge=1, le=1440)] | None = None
    timezone: TimezoneName | None = None
    title: Title = ""
    attendees: Annotated[list[Attendee], msgspec.Meta(max_length=100)] = []
    metadata: dict[str, Any] = {}
    client_timestamp: Field | None = None
    ignore_availability: bool = False
    hold_id: Field | None = None
    """A live hold with exactly these times and host: the booking takes its place."""
    recurrence: RecurrenceIn | None = None
    """Repeat the booking: a series of occurrences, each a booking (``hub.series``)."""

    def __post_init__(self) -> None:
        # ``metadata`` is free JSON: the rule of every text field (no NUL) applies to its strings and keys.
        found = nul_in_json(self.metadata, "metadata")
        if found is not None:
            raise FieldError(*found)


class BookingReschedule(msgspec.Struct):
    """The new time of a booking: the same fields and rules as the time of ``BookingCreate``."""

    start: Annotated[str, text(examples=["2026-12-07T10:00:00", "2026-12-07T09:00:00Z"])]
    end: Field | None = None
    duration_minutes: Annotated[int, msgspec.Meta(ge=1, le=1440)] | None = None
    timezone: TimezoneName | None = None
    reason: Annotated[str, text(max_length=1000)] | None = None
    ignore_availability: bool = False


class BookingCancel(msgspec.Struct):
    reason: Annotated[str, text(max_length=1000)] | None = None


class Requested(msgspec.Struct):
    start: str
    end: str | None
    timezone: str | None
    duration_minutes: int | None = None


class Previous(msgspec.Struct):
    """The times of a booking before its last reschedule."""

    start: datetime
    end: datetime


class BookingOut(msgspec.Struct):
    id: str
    status: Literal["confirmed", "cancelled"]
    host_id: str
    start: datetime
    end: datetime
    timezone: str
    local_start: str
    local_end: str
    requested: Requested
    client_timestamp: str | None
    title: str
    attendees: list[Attendee]
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None
    cancellation_reason: str | None
    reschedule_count: int = 0
    rescheduled_at: datetime | None = None
    previous: Previous | None = None
    series_id: str | None = None
    occurrence_index: int | None = None
    object: str = "booking"


class ConflictingInterval(msgspec.Struct):
    start: datetime
    end: datetime
    source: str  # "booking", "hold" or the provider of a linked calendar ("google", "microsoft")
    booking_id: str | None = None
    hold_id: str | None = None
    expires_at: datetime | None = None  # a hold's
