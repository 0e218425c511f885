"""The invitation a booking event stands for: who organizes it, who is invited, when, and
whether it is a request (the booking is confirmed) or a cancellation.

``Invite`` is what both the iCalendar object and the email are built from. ``invite_for()``
reads it from an outbox event's payload (the booking object of the API) and the host.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

import msgspec

Method = Literal["REQUEST", "CANCEL"]

# The outbox events that produce an email, and the kind of email each one is.
KINDS: Final[dict[str, str]] = {"booking.created": "confirmation", "booking.cancelled": "cancellation"}
METHODS: Final[dict[str, Method]] = {"confirmation": "REQUEST", "cancellation": "CANCEL"}


class Person(msgspec.Struct, frozen=True):
    email: str
    name: str | None = None

    @property
    def display_name(self) -> str:
        return self.name or self.email


class Invite(msgspec.Struct, frozen=True):
    """One booking event as the participants see it; times are timezone-aware."""

    booking_id: str
    method: Method
    sequence: int
    title: str
    start: datetime
    end: datetime
    timezone: str
    organizer: Person
    attendees: tuple[Person, ...]
    stamp: datetime  # when this version of the booking came to be (DTSTAMP)
    cancellation_reason: str | None = None

    @property
    def uid(self) -> str:
        """The iCalendar UID: the same for every message about this booking."""
        return f"{self.booking_id}@hub"

    @property
    def kind(self) -> str:
        return "confirmation" if self.method == "REQUEST" else "cancellation"

    @property
    def summary(self) -> str:
        """The title, or a readable stand-in when the booking has none."""
        return self.title.strip() or f"Meeting with {self.organizer.display_name}"

    def guests(self) -> tuple[Person, ...]:
        """The attendees other than the organizer, each address once (case-insensitively)."""
        seen = {self.organizer.email.casefold()}
        found: list[Person] = []
        for person in self.attendees:
            key = person.email.casefold()
            if key not in seen:
                seen.add(key)
                found.append(person)
        return tuple(found)

    def recipients(self) -> tuple[Person, ...]:
        """Everyone who gets an email: every attendee, then the host; each address once."""
        return (*self.guests(), self.organizer)


class _Attendee(msgspec.Struct):
    email: str
    name: str | None = None


class BookingPayload(msgspec.Struct):
    """The fields of the API's booking object that an invitation needs; others are ignored."""

    id: str
    host_id: str
    start: datetime
    end: datetime
    timezone: str
    title: str = ""
    attendees: list[_Attendee] = []
    cancellation_reason: str | None = None
    sequence: int | None = None


def parse_payload(payload: dict[str, Any]) -> BookingPayload:
    return msgspec.convert(payload, BookingPayload)


def invite_for(event_type: str, booking: BookingPayload, host: Person, *, sequence: int, stamp: datetime) -> Invite:
    """The invitation for ``event_type`` (``booking.created`` or ``booking.cancelled``)."""
    method = METHODS[KINDS[event_type]]
    return Invite(
        booking_id=booking.id,
        method=method,
        sequence=sequence,
        title=booking.title,
        start=booking.start,
        end=booking.end,
        timezone=booking.timezone,
        organizer=host,
        attendees=tuple(Person(a.email, a.name) for a in booking.attendees),
        stamp=stamp,
        cancellation_reason=booking.cancellation_reason if method == "CANCEL" else None,
    )
