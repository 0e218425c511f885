"""The invitation a booking event stands for: who organizes it, who is invited, when, and
whether it is a request (the booking is confirmed, or moved to a new time) or a cancellation.

``Invite`` is what both the iCalendar object and the email are built from. ``invite_for()``
builds it from the ``BookingNotice`` core hands the notifier.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

import msgspec

from hub.connectors import BookingNotice, NoticeKind, Recipient, SeriesPart

Method = Literal["REQUEST", "CANCEL"]

# The kind of booking notice, and the iTIP method of its invitation.
METHODS: Final[dict[NoticeKind, Method]] = {
    "confirmation": "REQUEST",
    "cancellation": "CANCEL",
    "reschedule": "REQUEST",  # RFC 5546 §3.2.2: an update is a REQUEST of the same UID, higher SEQUENCE
}


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
    previous_start: datetime | None = None  # a moved booking's times before the move
    previous_end: datetime | None = None
    reschedule_reason: str | None = None
    co_hosts: tuple[Person, ...] = ()  # the other hosts of a team booking; ``organizer`` is the first

    @property
    def hosts(self) -> tuple[Person, ...]:
        """Every host, the organizer first."""
        return (self.organizer, *self.co_hosts)

    join_url: str | None = None  # the conference link (LOCATION, URL and CONFERENCE in the ICS)
    series: SeriesPart | None = None  # the whole series of a recurring booking, or one occurrence of it

    @property
    def uid(self) -> str:
        """The iCalendar UID: the same for every message about this booking (about every
        occurrence of a series: the series')."""
        return f"{self.series.series_id if self.series else self.booking_id}@hub"

    @property
    def thread(self) -> str:
        """What the first message about this event was derived from (the booking, or the series)."""
        return self.series.series_id if self.series else self.booking_id

    @property
    def kind(self) -> str:
        """The template: ``confirmation``, ``reschedule`` (a request with the times before) or ``cancellation``."""
        if self.method == "CANCEL":
            return "cancellation"
        return "confirmation" if self.previous_start is None else "reschedule"

    @property
    def summary(self) -> str:
        """The title, or a readable stand-in when the booking has none."""
        return self.title.strip() or f"Meeting with {self.organizer.display_name}"

    def guests(self) -> tuple[Person, ...]:
        """The attendees other than the hosts, each address once (case-insensitively)."""
        seen = {host.email.casefold() for host in self.hosts}
        found: list[Person] = []
        for person in self.attendees:
            key = person.email.casefold()
            if key not in seen:
                seen.add(key)
                found.append(person)
        return tuple(found)

    def other_hosts(self) -> tuple[Person, ...]:
        """The co-hosts whose address is not the organizer's or an earlier co-host's."""
        seen = {self.organizer.email.casefold()}
        found: list[Person] = []
        for person in self.co_hosts:
            if person.email.casefold() not in seen:
                seen.add(person.email.casefold())
                found.append(person)
        return tuple(found)

    def recipients(self) -> tuple[Person, ...]:
        """Everyone who gets an email: every attendee, then the hosts; each address once."""
        return (*self.guests(), self.organizer, *self.other_hosts())

    def is_host(self, person: Person) -> bool:
        return person.email.casefold() in {host.email.casefold() for host in self.hosts}


def _person(recipient: Recipient) -> Person:
    return Person(recipient.email, recipient.name)


def invite_for(notice: BookingNotice) -> Invite:
    """The invitation of a booking notice: a request when confirmed, a cancellation when cancelled."""
    return Invite(
        booking_id=notice.booking_id,
        method=METHODS[notice.kind],
        sequence=notice.sequence,
        title=notice.title,
        start=notice.start,
        end=notice.end,
        timezone=notice.timezone,
        organizer=_person(notice.host),
        attendees=tuple(_person(a) for a in notice.attendees),
        stamp=notice.stamp,
        cancellation_reason=notice.cancellation_reason,
        previous_start=notice.previous_start,
        previous_end=notice.previous_end,
        reschedule_reason=notice.reschedule_reason,
        co_hosts=tuple(_person(h) for h in notice.co_hosts),
        join_url=notice.join_url,
        series=notice.series,
    )
