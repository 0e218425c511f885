"""Email test helpers: an invitation builder and parsers (the SMTP server is in tests.support.smtp)."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from icalendar import Calendar, Event

from connectors.email.invite import Invite, Person

FIXTURES = Path(__file__).parent / "fixtures"


def make_invite(**overrides: Any) -> Invite:
    """A one-guest booking on Monday 2 December 2030, 09:00-09:30 in Berlin (08:00Z)."""
    values: dict[str, Any] = {
        "booking_id": "bkg_01jtest000000000000000000",
        "method": "REQUEST",
        "sequence": 0,
        "title": "Intro call",
        "start": datetime(2030, 12, 2, 8, 0, tzinfo=UTC),
        "end": datetime(2030, 12, 2, 8, 30, tzinfo=UTC),
        "timezone": "Europe/Berlin",
        "organizer": Person("ada@example.com", "Ada Host"),
        "attendees": (Person("guest@example.com", "Guest One"),),
        "stamp": datetime(2030, 11, 20, 10, 15, 31, tzinfo=UTC),
    }
    values.update(overrides)
    return Invite(**values)


def calendar_part(message: EmailMessage) -> EmailMessage:
    """The iMIP body part: the one ``text/calendar`` part."""
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, [p.get_content_type() for p in message.walk()]
    part = parts[0]
    assert isinstance(part, EmailMessage)
    return part


def parse_calendar(message: EmailMessage) -> tuple[Calendar, Event]:
    """The calendar of an iMIP message and its one VEVENT."""
    calendar = Calendar.from_ical(calendar_part(message).get_content())
    assert isinstance(calendar, Calendar)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, Event)
    return calendar, event


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    assert part.get_content_type() == f"text/{subtype}"
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def structure(message: email.message.Message) -> Any:
    """The content-type tree of a message: ``["multipart/mixed", [...], "application/ics"]``."""
    if message.is_multipart():
        payload = message.get_payload()
        assert isinstance(payload, list)
        return [message.get_content_type(), [structure(p) for p in payload]]
    return message.get_content_type()
