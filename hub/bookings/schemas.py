"""Wire shapes of bookings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from hub.bookings.assignment import Assignment as Assignment
from hub.errors import FieldError
from hub.series.schemas import RecurrenceIn
from hub.text import line, nul_in_json, text
from hub.users.schemas import Email, TimezoneName, UserOut

Title = Annotated[str, line(max_length=500)]
Field = Annotated[str, text()]
"""An id, a time or a zone as sent: no NUL (the field's own rules come after)."""


class Attendee(msgspec.Struct):
    email: Email
    name: Annotated[str, line(max_length=200)] | None = None


ConferencingProvider = Literal["auto", "google_meet", "teams", "none"]
AttendeeResponse = Literal["needs_action", "accepted", "declined", "tentative"]


class Conferencing(msgspec.Struct):
    """The conference a new booking asks for: ``auto`` is the native one of the host's
    booking-target calendar (Google Meet on Google, Teams on Microsoft 365)."""

    provider: ConferencingProvider = "none"


class ConferencingOut(msgspec.Struct):
    """The booking's conference: ``pending`` until the host's calendar made it, then ``ready``
    with ``join_url``, or ``failed`` with ``error``."""

    provider: str
    status: Literal["pending", "ready", "failed"]
    join_url: str | None = None
    error: str | None = None


class AttendeeOut(msgspec.Struct):
    email: str
    name: str | None = None
    response: AttendeeResponse = "needs_action"
    """The attendee's answer as the host's calendar shows it; ``needs_action`` until they answer."""


class ExternalChange(msgspec.Struct):
    """The host deleted or moved the booking's event in their own calendar (Hub changed nothing)."""

    kind: Literal["deleted", "moved"]
    detected_at: datetime
    start: datetime | None
    end: datetime | None


MAX_HOSTS = 20
HostIds = Annotated[list[Field], msgspec.Meta(min_length=1, max_length=MAX_HOSTS)]


class HostPool(msgspec.Struct):
    """Round robin: Hub books one free host of ``user_ids``, chosen by ``assignment``."""

    user_ids: HostIds
    assignment: Literal["least_booked"] = "least_booked"


class BookingCreate(msgspec.Struct, kw_only=True):
    host_id: Field | None = None
    """Exactly one of ``host_id``, ``host_ids`` (a collective booking: all of them) and ``host_pool``."""
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
    """A live hold with exactly these times and hosts: the booking takes its place."""
    host_ids: HostIds | None = None
    host_pool: HostPool | None = None
    conferencing: Conferencing | None = None
    """A conferencing link to make with the event in the host's calendar (default: none)."""
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
    attendees: list[AttendeeOut]
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None
    cancellation_reason: str | None
    reschedule_count: int = 0
    rescheduled_at: datetime | None = None
    previous: Previous | None = None
    host_ids: list[str] = []
    """Every host of the booking; the first is ``host_id``."""
    assignment: Assignment | None = None
    hosts: list[UserOut] | msgspec.UnsetType = msgspec.UNSET
    """The hosts' user objects, with ``expand=hosts`` only."""
    conferencing: ConferencingOut | None = None
    external_change: ExternalChange | None = None
    series_id: str | None = None
    occurrence_index: int | None = None
    object: str = "booking"


class ConflictingInterval(msgspec.Struct):
    start: datetime
    end: datetime
    source: str  # "booking", "hold" or the provider of a linked calendar ("google", "microsoft")
    host_id: str | None = None  # the busy host, for a booking or hold of several hosts
    booking_id: str | None = None
    hold_id: str | None = None
    expires_at: datetime | None = None  # a hold's
