"""The email connector's ``Notifier``: a notice becomes one email per recipient, sent through
the transport of the settings (SMTP, or ``.eml`` files in development).

A booking notice is composed as an iMIP invitation (``message.compose``), a relink notice as
the relink email (``message.compose_relink``). What cannot reach this recipient alone (the
server refused them for good, ``smtp_recipient_refused`` / ``smtp_message_refused``, or their
name or address cannot be written, ``email_invalid_recipient``) is raised as a
``SkippableError`` with that code; every other failure keeps the class the transport gave it
(``TransientError`` to retry, ``PermanentError`` for Hub's own SMTP setup).

A notice is sent to each of its recipients in turn, so the notifier keeps the invitation and
its iCalendar bytes of the last notice it saw: they are the same for every recipient, and only
the headers and bodies are composed per recipient.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from connectors.email.ics import build_ics
from connectors.email.invite import Invite, Person, invite_for
from connectors.email.message import InvalidRecipient, compose, compose_relink, message_id, sender_domain
from connectors.email.transport import MessageRefused, Transport
from hub.connectors import BookingNotice, Notice, Recipient
from hub.errors import SkippableError


class EmailNotifier:
    def __init__(self, transport: Transport, *, sender: str, clock: Callable[[], datetime]) -> None:
        self.transport, self.sender, self.clock = transport, sender, clock
        self._last: tuple[BookingNotice, Invite, bytes] | None = None

    def _invite(self, notice: BookingNotice) -> tuple[Invite, bytes]:
        """The invitation of ``notice`` and its calendar, built once for all its recipients."""
        last = self._last
        if last is None or last[0] is not notice:
            invite = invite_for(notice)
            last = self._last = (notice, invite, build_ics(invite))
        return last[1], last[2]

    def recipients(self, notice: BookingNotice) -> tuple[Recipient, ...]:
        return tuple(Recipient(p.email, p.name) for p in self._invite(notice)[0].recipients())

    def message_id(self, notice: BookingNotice, recipient: Recipient) -> str:
        return message_id(notice.booking_id, notice.sequence, recipient.email, sender_domain(self.sender))

    def send(self, notice: Notice, recipient: Recipient) -> None:
        person = Person(recipient.email, recipient.name)
        try:
            if isinstance(notice, BookingNotice):
                invite, ics = self._invite(notice)
                message = compose(invite, person, sender=self.sender, now=self.clock(), ics=ics)
            else:
                message = compose_relink(notice, person, sender=self.sender)
            self.transport.send(message)
        except (MessageRefused, InvalidRecipient) as exc:
            raise SkippableError(exc.message, code=exc.code) from exc
