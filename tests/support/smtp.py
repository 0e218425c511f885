"""A real SMTP server for tests (aiosmtpd on a free port, in a background thread) and what it received."""

from __future__ import annotations

import email
import threading
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.servers import free_port


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
