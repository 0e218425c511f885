"""A real SMTP server for the email tests (aiosmtpd), an invitation builder, and parsers."""

from __future__ import annotations

import email
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from icalendar import Calendar, Event

from connectors.email.invite import Invite, Person
from tests.support.servers import free_port

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Mailbox:
    """What the SMTP server accepted, and how it answers: ``refuse`` maps an address to the
    reply given to its ``RCPT TO`` (``"550 5.1.1 no such user"``, ``"451 4.7.1 try later"``)."""

    messages: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        reply = self.refuse.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.lock:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [r.message for r in self.messages if address in r.rcpt_tos]


class SmtpServer:
    """aiosmtpd on a free port in a background thread; ``password`` turns on AUTH (no TLS)."""

    def __init__(self, password: str | None = None) -> None:
        self.mailbox = Mailbox()
        self.port = free_port()
        options: dict[str, Any] = {}
        if password is not None:
            options = {"authenticator": _Authenticator(password), "auth_require_tls": False}
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, **options)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.controller.stop()


class _Authenticator:
    def __init__(self, password: str) -> None:
        self.password = password.encode()

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == self.password
        return AuthResult(success=ok, handled=False)


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
