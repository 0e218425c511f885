"""The MIME message: what a mail client shows and what it hands to its calendar."""

from __future__ import annotations

import email
import itertools
import re
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage

import msgspec
import pytest

from connectors.email.invite import Invite, Person
from connectors.email.message import compose
from tests.connectors.email.helpers import FIXTURES, body, calendar_part, make_invite, parse_calendar, structure

SENDER = "Hub <hub@hub.example.com>"
NOW = datetime(2030, 11, 20, 10, 16, tzinfo=UTC)
GUEST = Person("guest@example.com", "Guest One")
HOST = Person("ada@example.com", "Ada Host")


def roundtrip(message: EmailMessage) -> EmailMessage:
    """The message as a recipient parses it after it crossed the wire."""
    parsed = email.message_from_bytes(message.as_bytes(policy=policy.SMTP), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_structure_follows_the_shared_imip_fixture() -> None:
    fixture = email.message_from_bytes((FIXTURES / "imip_request_email.eml").read_bytes(), policy=policy.default)
    message = roundtrip(compose(make_invite(), GUEST, sender=SENDER, now=NOW))

    expected = [
        "multipart/mixed",
        [["multipart/alternative", ["text/plain", "text/html", "text/calendar"]], "application/ics"],
    ]
    assert structure(fixture) == expected
    assert structure(message) == expected
    attachment = message.get_payload()[1]
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_content_disposition() == "attachment"


@pytest.mark.parametrize(("method", "sequence"), [("REQUEST", 0), ("CANCEL", 1)])
def test_calendar_part_is_an_imip_body_whose_method_matches(method: str, sequence: int) -> None:
    invite = make_invite(method=method, sequence=sequence)
    message = roundtrip(compose(invite, GUEST, sender=SENDER, now=NOW))

    part = calendar_part(message)
    assert part.get_param("method") == method
    assert part.get_content_charset() == "utf-8"
    calendar, event = parse_calendar(message)
    assert calendar["METHOD"] == method
    assert event["SEQUENCE"] == sequence
    # The attachment carries the same calendar, byte for byte (line ends aside).
    attachment = message.get_payload()[1].get_content()
    assert attachment.replace(b"\r\n", b"\n") == part.get_content().encode().replace(b"\r\n", b"\n")


def test_headers() -> None:
    message = roundtrip(compose(make_invite(), GUEST, sender=SENDER, now=NOW))
    assert message["From"] == SENDER
    assert message["To"] == "Guest One <guest@example.com>"
    assert message["Reply-To"] == "Ada Host <ada@example.com>"
    assert message["Subject"] == "Invitation: Intro call @ Mon 2 Dec 2030 09:00 (Europe/Berlin)"
    assert message["Date"] == "Wed, 20 Nov 2030 10:16:00 +0000"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@hub.example.com>")


def test_message_id_is_stable_per_booking_sequence_and_recipient() -> None:
    invite = make_invite()
    first = compose(invite, GUEST, sender=SENDER, now=NOW)["Message-ID"]
    again = compose(invite, Person("GUEST@example.com"), sender=SENDER, now=datetime.now(UTC))["Message-ID"]
    other_recipient = compose(invite, HOST, sender=SENDER, now=NOW)["Message-ID"]
    cancel = msgspec.structs.replace(invite, method="CANCEL", sequence=1)
    cancelled = compose(cancel, GUEST, sender=SENDER, now=NOW)

    assert first == again
    assert len({first, other_recipient, cancelled["Message-ID"]}) == 3
    assert cancelled["In-Reply-To"] == first  # threads under the invitation
    assert cancelled["References"] == first


def test_bodies_show_the_time_in_the_bookings_zone_and_in_utc() -> None:
    message = roundtrip(compose(make_invite(), GUEST, sender=SENDER, now=NOW))
    for text in (body(message, "plain"), body(message, "html")):
        assert "Mon 2 Dec 2030, 09:00 \N{EN DASH} 09:30 (Europe/Berlin, UTC+01:00)" in text
        assert "Mon 2 Dec 2030, 08:00 \N{EN DASH} 08:30 UTC" in text
        assert "Intro call" in text
        assert "Ada Host has invited you" in text


def test_booking_across_midnight_names_both_days() -> None:
    invite = make_invite(start=datetime(2030, 12, 2, 22, 30, tzinfo=UTC), end=datetime(2030, 12, 2, 23, 30, tzinfo=UTC))
    text = body(roundtrip(compose(invite, GUEST, sender=SENDER, now=NOW)), "plain")
    assert "Mon 2 Dec 2030, 23:30 \N{EN DASH} Tue 3 Dec 2030, 00:30 (Europe/Berlin, UTC+01:00)" in text
    assert "Mon 2 Dec 2030, 22:30 \N{EN DASH} 23:30 UTC" in text


def test_host_copy_and_cancellation_wording() -> None:
    host_copy = roundtrip(compose(make_invite(), HOST, sender=SENDER, now=NOW))
    assert host_copy["Subject"].startswith("New booking: Intro call")
    assert "Reply-To" not in host_copy
    assert "You have a new booking." in body(host_copy, "plain")

    cancel = make_invite(method="CANCEL", sequence=1, cancellation_reason="Host is ill")
    message = roundtrip(compose(cancel, GUEST, sender=SENDER, now=NOW))
    assert message["Subject"] == "Cancelled: Intro call @ Mon 2 Dec 2030 09:00 (Europe/Berlin)"
    for text in (body(message, "plain"), body(message, "html")):
        assert "cancelled" in text
        assert "Reason: Host is ill" in text


def test_html_escapes_what_clients_typed() -> None:
    invite = make_invite(title="<script>alert(1)</script>", attendees=(Person("x@example.com", "<b>Eve</b>"),))
    message = roundtrip(compose(invite, GUEST, sender=SENDER, now=NOW))
    html = body(message, "html")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<b>Eve</b>" not in html
    assert "<script>alert(1)</script>" in body(message, "plain")


def test_non_ascii_names_and_titles_survive_the_wire() -> None:
    title = "Café \N{EN DASH} Planung"
    invite = make_invite(title=title, organizer=Person("zoe@example.com", "Zoë Müller"))
    original = compose(invite, Person("jose@example.com", "José Núñez"), sender=SENDER, now=NOW)
    wire = original.as_bytes(policy=policy.SMTP)
    assert wire.isascii()  # no raw 8-bit: any SMTP server carries it
    message = roundtrip(original)
    assert message["To"] == "José Núñez <jose@example.com>"
    assert title in message["Subject"]
    _, event = parse_calendar(message)
    assert str(event["SUMMARY"]) == title
    assert event["ORGANIZER"].params["CN"] == "Zoë Müller"


def test_a_team_booking_email_lists_every_host_and_each_host_gets_one() -> None:
    bo = Person("bo@example.com", "Bo Host")
    invite = make_invite(co_hosts=(bo,))
    assert invite.recipients() == (GUEST, HOST, bo)
    guest_mail = roundtrip(compose(invite, GUEST, sender=SENDER, now=NOW))
    text = body(guest_mail, "plain")
    assert "Hosts:  Ada Host <ada@example.com>, Bo Host <bo@example.com>" in text
    assert "Bo Host" in body(guest_mail, "html")
    co_host_mail = roundtrip(compose(invite, bo, sender=SENDER, now=NOW))
    assert str(co_host_mail["Subject"]).startswith("New booking:")  # a host, not an invited guest
    assert co_host_mail["Reply-To"] is None


@pytest.mark.parametrize(
    "invite",
    [
        make_invite(),
        make_invite(method="CANCEL", sequence=2),
        make_invite(
            title="Ünïcode — call",
            organizer=Person("zoe@example.com", "Zoë Ünsal"),
            attendees=(Person("g@example.com", "Gäst, Name"), Person("x@example.com")),
        ),
    ],
)
def test_messages_are_the_bytes_the_standard_policy_writes(invite: Invite, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hub composes with a policy that parses repeated headers once; the wire bytes stay those
    of ``policy.default``, for every recipient and however many messages came before."""

    def wire(recipient: Person) -> bytes:
        numbers = itertools.count()
        monkeypatch.setattr("connectors.email.message._boundary", lambda: f"=_{next(numbers):032x}")
        message = compose(invite, recipient, sender="Hub Bot <hub@example.com>", now=datetime(2030, 1, 1, tzinfo=UTC))
        return message.as_bytes(policy=policy.SMTP)

    people = (invite.organizer, *invite.attendees)
    composed = [wire(person) for person in people * 2]
    monkeypatch.setattr("connectors.email.message.COMPOSE", policy.default)
    assert composed == [wire(person) for person in people * 2]


def test_boundaries_are_fresh_random_and_in_no_part() -> None:
    """Each multipart gets its own boundary when composed (``=_`` and 32 hex digits, a new one
    every message), which the writer uses as set and no part's encoded text contains."""
    invite = make_invite(title="=_ and ==== in a title", attendees=(Person("g@example.com", "Gäst =_ Name"),))
    messages = [compose(invite, GUEST, sender=SENDER, now=NOW) for _ in range(2)]
    boundaries = [part.get_boundary() for message in messages for part in message.walk() if part.is_multipart()]
    assert len(boundaries) == 4
    assert len(set(boundaries)) == 4
    assert all(re.fullmatch(r"=_[0-9a-f]{32}", b or "") for b in boundaries)
    wire = messages[0].as_bytes(policy=policy.SMTP)
    mixed, alternative = boundaries[:2]
    for boundary, parts in ((mixed, 2), (alternative, 3)):  # its header, a line before each part, the end
        assert wire.count(f"--{boundary}\r\n".encode()) == parts
        assert wire.count(f"\r\n--{boundary}--\r\n".encode()) == 1
        assert wire.count(boundary.encode()) == 1 + parts + 1
    parsed = roundtrip(messages[0])
    assert structure(parsed) == [
        "multipart/mixed",
        [["multipart/alternative", ["text/plain", "text/html", "text/calendar"]], "application/ics"],
    ]
