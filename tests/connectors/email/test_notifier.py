"""The email connector's ``Notifier`` as core drives it: notices in, one email per recipient
out through a real SMTP server, and each failure sorted by what core must do about it."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from connectors.email.notifier import EmailNotifier
from connectors.email.spec import build
from connectors.email.transport import SmtpTransport
from hub.connectors import BookingNotice, Notifier, Recipient, RelinkNotice
from hub.errors import PermanentError, SkippableError, TransientError
from hub.settings import Settings
from tests.connectors.email.helpers import body, parse_calendar
from tests.support.smtp import SmtpServer

SENDER = "Hub <hub@hub.example.com>"
NOW = datetime(2030, 11, 20, 10, 16, tzinfo=UTC)
HOST = Recipient("ada@example.com", "Ada Host")
GUEST = Recipient("guest@example.com", "Guest One")


def notice(**overrides: object) -> BookingNotice:
    """A booking on Monday 2 December 2030, 09:00-09:30 in Berlin, with the host invited too."""
    values: dict[str, object] = {
        "kind": "confirmation",
        "booking_id": "bkg_01jtest000000000000000000",
        "sequence": 0,
        "title": "Intro call",
        "start": datetime(2030, 12, 2, 8, 0, tzinfo=UTC),
        "end": datetime(2030, 12, 2, 8, 30, tzinfo=UTC),
        "timezone": "Europe/Berlin",
        "host": HOST,
        "attendees": (GUEST, Recipient("ADA@example.com"), Recipient("Guest@Example.com", "Again")),
        "stamp": datetime(2030, 11, 20, 10, 15, 31, tzinfo=UTC),
    }
    values.update(overrides)
    return msgspec.convert(values, BookingNotice)


def notifier(server: SmtpServer, **options: object) -> EmailNotifier:
    transport = SmtpTransport("127.0.0.1", server.port, **options)  # type: ignore[arg-type]
    return EmailNotifier(transport, sender=SENDER, clock=lambda: NOW)


def test_the_spec_builds_a_notifier_from_the_settings(settings: Settings, smtp_server: SmtpServer) -> None:
    changed = msgspec.structs.replace(
        settings, email_backend="smtp", smtp_host="127.0.0.1", smtp_port=smtp_server.port, email_from=SENDER
    )
    built = build(changed).notifier
    assert isinstance(built, Notifier)

    built.send(notice(), GUEST)

    (received,) = smtp_server.mailbox.messages
    assert received.mail_from == "hub@hub.example.com"
    assert received.rcpt_tos == [GUEST.email]


def test_recipients_are_the_guests_then_the_host_each_address_once(smtp_server: SmtpServer) -> None:
    assert notifier(smtp_server).recipients(notice()) == (GUEST, HOST)
    assert notifier(smtp_server).recipients(notice(attendees=())) == (HOST,)


def test_a_booking_notice_is_sent_as_the_invitation_with_the_id_core_records(smtp_server: SmtpServer) -> None:
    sender = notifier(smtp_server)
    cancelled = notice(kind="cancellation", sequence=1, cancellation_reason="Host is ill")

    sender.send(notice(), GUEST)
    sender.send(cancelled, GUEST)

    invitation, cancellation = smtp_server.mailbox.to(GUEST.email)
    assert str(invitation["Message-ID"]).strip() == sender.message_id(notice(), GUEST)
    assert str(cancellation["Message-ID"]).strip() == sender.message_id(cancelled, GUEST)
    assert sender.message_id(notice(), GUEST) != sender.message_id(cancelled, GUEST)
    assert str(cancellation["In-Reply-To"]).strip() == sender.message_id(notice(), GUEST)
    assert invitation["Subject"] == "Invitation: Intro call @ Mon 2 Dec 2030 09:00 (Europe/Berlin)"
    assert invitation["Date"] == "Wed, 20 Nov 2030 10:16:00 +0000"
    assert parse_calendar(invitation)[0]["METHOD"] == "REQUEST"
    calendar, event = parse_calendar(cancellation)
    assert (calendar["METHOD"], event["SEQUENCE"]) == ("CANCEL", 1)
    assert "Reason: Host is ill" in body(cancellation, "plain")


def test_a_recipient_refused_for_good_is_skippable(smtp_server: SmtpServer) -> None:
    smtp_server.mailbox.refuse[GUEST.email] = "550 5.1.1 No such user here"
    with pytest.raises(SkippableError) as caught:
        notifier(smtp_server).send(notice(), GUEST)
    assert caught.value.code == "smtp_recipient_refused"
    assert "550 5.1.1 No such user here" in caught.value.message


def test_a_recipient_no_header_can_carry_is_skippable_and_nothing_is_sent(smtp_server: SmtpServer) -> None:
    smuggler = Recipient("eve@example.com", "Eve\r\nBcc: victim@example.net")
    with pytest.raises(SkippableError) as caught:
        notifier(smtp_server).send(notice(attendees=(smuggler,)), smuggler)
    assert caught.value.code == "email_invalid_recipient"
    assert smtp_server.mailbox.messages == []


def test_a_deferral_is_transient(smtp_server: SmtpServer) -> None:
    smtp_server.mailbox.refuse[GUEST.email] = "451 4.3.0 Mailbox temporarily unavailable"
    with pytest.raises(TransientError) as caught:
        notifier(smtp_server).send(notice(), GUEST)
    assert caught.value.code == "smtp_deferred"


def test_a_refused_login_is_permanent_not_skippable() -> None:
    with SmtpServer(password="right") as server, pytest.raises(PermanentError) as caught:
        notifier(server, username="hub", password="wrong").send(notice(), GUEST)
    assert not isinstance(caught.value, SkippableError)
    assert caught.value.code == "smtp_auth_failed"


RELINK_URL = "http://127.0.0.1:8000/dashboard/relink/" + "t" * 120


def test_a_relink_notice_is_the_plain_text_relink_email(smtp_server: SmtpServer) -> None:
    sender = notifier(smtp_server)
    sender.send(RelinkNotice("Google Calendar", "ada@gmail.com", RELINK_URL), Recipient("ada.host@example.com"))
    sender.send(RelinkNotice("Microsoft 365 / Outlook", None, RELINK_URL), Recipient("ada.host@example.com"))

    google, microsoft = smtp_server.mailbox.to("ada.host@example.com")
    assert google["From"] == SENDER
    assert google["To"] == "ada.host@example.com"
    assert google["Subject"] == "Reconnect your Google Calendar"
    assert google["Message-ID"] is None
    assert google.get_content_type() == "text/plain"
    assert google.get_content().replace("\r\n", "\n") == (  # the wire's line ends aside
        "Hello,\n\nyour Google Calendar account ada@gmail.com is no longer connected, so your busy times may be "
        "missing and new bookings may not appear in your calendar.\n\n"
        f"Reconnect it here (the link works for 7 days):\n{RELINK_URL}\n"
    )
    assert microsoft["Subject"] == "Reconnect your Microsoft 365 / Outlook"
    assert microsoft.get_content().startswith(
        "Hello,\r\n\r\nyour Microsoft 365 / Outlook account is no longer connected"
    )


def test_a_relink_recipient_no_header_can_carry_is_skippable(smtp_server: SmtpServer) -> None:
    with pytest.raises(SkippableError) as caught:
        notifier(smtp_server).send(RelinkNotice("Google Calendar", None, RELINK_URL), Recipient("ada\n@example.com"))
    assert caught.value.code == "email_invalid_recipient"
    assert smtp_server.mailbox.messages == []
