"""Booking emails end to end: a booking made and cancelled through the API, core's outbox
consumer (``hub.notifications``) run in-process with the email connector as its notifier
against a real SMTP server, what each participant's mailbox holds and what the send ledger
records."""

from __future__ import annotations

import email
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import msgspec
import pytest
from rq.job import Job, JobStatus
from sqlalchemy import select, update

from hub.clock import utcnow
from hub.db import Database
from hub.db.tables import EmailSend, OutboxMessage, User
from hub.errors import TransientError
from hub.ids import new_id
from hub.jobs.context import JobContext, running
from hub.jobs.runner import enqueue, job_id
from hub.notifications.jobs import send_booking_emails
from hub.redis import connect
from hub.settings import Settings
from tests.connectors.email.helpers import body, calendar_part, parse_calendar
from tests.integration.helpers import MONDAY, booking, create_booking
from tests.support.smtp import SmtpServer
from tests.support.tenants import Tenant
from tests.support.workers import run_jobs

GUEST = "guest@example.com"
SECOND = "second@example.org"
HOST = "ada@example.com"

Install = Callable[[Settings], None]


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def use_settings(settings: Settings, db: Database) -> Iterator[Install]:
    """Run the test's jobs in a job context with other settings, as a worker would; restored afterwards."""
    client = connect(settings.redis_url or "")
    with ExitStack() as contexts:

        def use(changed: Settings) -> None:
            contexts.enter_context(running(JobContext(changed, db, client)))

        yield use
    client.close()


@pytest.fixture
def smtp_settings(settings: Settings, smtp_server: SmtpServer, use_settings: Install) -> Settings:
    changed = msgspec.structs.replace(
        settings,
        email_backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        email_from="Hub <hub@hub.example.com>",
    )
    use_settings(changed)
    return changed


def book(tenant: Tenant, **extra: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    host = tenant.create_user(name="Ada Host", email=HOST, timezone="Europe/Berlin")
    attendees = extra.pop("attendees", [{"email": GUEST, "name": "Guest One"}, {"email": SECOND}])
    created = create_booking(
        tenant.client,
        booking(
            host["id"], f"{MONDAY}T09:00:00", f"{MONDAY}T09:30:00", title="Intro call", attendees=attendees, **extra
        ),
    )
    return host, created


def cancel(tenant: Tenant, booking_id: str) -> None:
    response = tenant.client.post(f"/v1/bookings/{booking_id}/cancel", json={"reason": "Host is ill"})
    assert response.status_code == 200, response.text


def outbox_id(db: Database, booking_id: str, event_type: str) -> str:
    with db.read() as session:
        found = session.scalar(
            select(OutboxMessage.id).where(
                OutboxMessage.aggregate_id == booking_id, OutboxMessage.event_type == event_type
            )
        )
    assert found is not None, f"no {event_type} outbox row for {booking_id}"
    return found


def sends(db: Database, outbox: str) -> dict[str, EmailSend]:
    with db.read() as session:
        return {row.recipient: row for row in session.scalars(select(EmailSend).where(EmailSend.outbox_id == outbox))}


def msgid(message: EmailMessage) -> str:
    """The Message-ID without the folding whitespace a long one picks up on the wire."""
    return str(message["Message-ID"]).strip()


def only(messages: list[EmailMessage]) -> EmailMessage:
    assert len(messages) == 1, [m["Subject"] for m in messages]
    return messages[0]


def test_confirmation_and_cancellation_reach_every_participant_once(
    tenant: Tenant, db: Database, smtp_server: SmtpServer, smtp_settings: Settings
) -> None:
    mailbox = smtp_server.mailbox
    _, created = book(tenant)
    booking_id = created["id"]
    created_event = outbox_id(db, booking_id, "booking.created")

    result = send_booking_emails(created_event)

    assert result == {"outcome": "completed", "kind": "confirmation", "sent": 3, "failed": 0, "skipped": 0}
    assert sorted(address for r in mailbox.messages for address in r.rcpt_tos) == sorted([GUEST, SECOND, HOST])
    invitations = {address: only(mailbox.to(address)) for address in (GUEST, SECOND, HOST)}
    for address, message in invitations.items():
        assert message["To"].addresses[0].addr_spec == address
        assert message["From"] == "Hub <hub@hub.example.com>"
        assert calendar_part(message).get_param("method") == "REQUEST"
        calendar, event = parse_calendar(message)
        assert calendar["METHOD"] == "REQUEST"
        assert event["UID"] == f"{booking_id}@hub"
        assert event["SEQUENCE"] == 0
        assert event["STATUS"] == "CONFIRMED"
        assert event["SUMMARY"] == "Intro call"
        assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
        assert event["DTSTART"].to_ical() == b"20301202T090000"
        assert event["DTEND"].to_ical() == b"20301202T093000"
        assert event.decoded("DTSTART").astimezone(UTC) == datetime(2030, 12, 2, 8, 0, tzinfo=UTC)
        assert [c["TZID"] for c in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
        assert str(event["ORGANIZER"]) == f"mailto:{HOST}"
        text = body(message, "plain")
        assert "09:00 \N{EN DASH} 09:30 (Europe/Berlin, UTC+01:00)" in text
        assert "08:00 \N{EN DASH} 08:30 UTC" in text
    assert invitations[GUEST]["Subject"] == "Invitation: Intro call @ Mon 2 Dec 2030 09:00 (Europe/Berlin)"
    assert invitations[HOST]["Subject"].startswith("New booking: Intro call")

    recorded = sends(db, created_event)
    expected = ("sent", "confirmation", booking_id)
    assert {r: (row.status, row.kind, row.booking_id) for r, row in recorded.items()} == dict.fromkeys(
        (GUEST, SECOND, HOST), expected
    )
    assert {r: row.message_id for r, row in recorded.items()} == {a: msgid(m) for a, m in invitations.items()}
    assert all(row.sent_at is not None and row.error is None for row in recorded.values())

    cancel(tenant, booking_id)
    cancelled_event = outbox_id(db, booking_id, "booking.cancelled")
    result = send_booking_emails(cancelled_event)

    assert result == {"outcome": "completed", "kind": "cancellation", "sent": 3, "failed": 0, "skipped": 0}
    for address in (GUEST, SECOND, HOST):
        first, second = mailbox.to(address)
        assert second["Subject"].startswith("Cancelled: Intro call")
        assert calendar_part(second).get_param("method") == "CANCEL"
        calendar, event = parse_calendar(second)
        _, original = parse_calendar(first)
        assert calendar["METHOD"] == "CANCEL"
        assert event["UID"] == original["UID"] == f"{booking_id}@hub"
        assert int(event["SEQUENCE"]) > int(original["SEQUENCE"])
        assert event["STATUS"] == "CANCELLED"
        assert event["DTSTART"].to_ical() == b"20301202T090000"
        assert str(second["In-Reply-To"]).strip() == msgid(first)
        assert "Reason: Host is ill" in body(second, "plain")

    # Dispatching either event again (or re-running a job) sends nobody anything twice.
    count = len(mailbox.messages)
    again = [send_booking_emails(created_event), send_booking_emails(cancelled_event)]
    assert [(r["sent"], r["skipped"]) for r in again] == [(0, 3), (0, 3)]
    assert len(mailbox.messages) == count == 6


def test_a_refused_recipient_is_recorded_and_the_others_still_get_theirs(
    tenant: Tenant, db: Database, smtp_server: SmtpServer, smtp_settings: Settings
) -> None:
    smtp_server.mailbox.refuse[SECOND] = "550 5.1.1 No such user here"
    _, created = book(tenant)
    event = outbox_id(db, created["id"], "booking.created")

    result = send_booking_emails(event)

    assert result == {"outcome": "completed", "kind": "confirmation", "sent": 2, "failed": 1, "skipped": 0}
    assert len(smtp_server.mailbox.to(GUEST)) == len(smtp_server.mailbox.to(HOST)) == 1
    recorded = sends(db, event)
    assert recorded[SECOND].status == "failed"
    assert recorded[SECOND].sent_at is None
    error = recorded[SECOND].error or ""
    assert error.startswith("smtp_recipient_refused: ")
    assert "550 5.1.1 No such user here" in error

    # A later run retries only the failed recipient; once it is accepted, the row says so.
    del smtp_server.mailbox.refuse[SECOND]
    result = send_booking_emails(event)
    assert (result["sent"], result["skipped"]) == (1, 2)
    assert len(smtp_server.mailbox.messages) == 3
    assert sends(db, event)[SECOND].status == "sent"
    assert sends(db, event)[SECOND].error is None


def test_a_transient_failure_is_raised_and_the_retry_sends_only_the_rest(
    tenant: Tenant, db: Database, smtp_server: SmtpServer, smtp_settings: Settings
) -> None:
    smtp_server.mailbox.refuse[HOST] = "451 4.3.0 Mailbox temporarily unavailable"
    _, created = book(tenant)
    event = outbox_id(db, created["id"], "booking.created")

    with pytest.raises(TransientError) as caught:  # RQ retries the job on its schedule
        send_booking_emails(event)
    assert caught.value.code == "smtp_deferred"
    assert sorted(sends(db, event)) == sorted([GUEST, SECOND])  # recorded as they went out

    del smtp_server.mailbox.refuse[HOST]
    result = send_booking_emails(event)
    assert (result["sent"], result["skipped"]) == (1, 2)
    assert [len(smtp_server.mailbox.to(a)) for a in (GUEST, SECOND, HOST)] == [1, 1, 1]


def test_a_wrong_smtp_password_ends_the_job_with_a_recorded_code(
    tenant: Tenant, db: Database, settings: Settings, use_settings: Install
) -> None:
    with SmtpServer(password="right") as server:
        use_settings(
            msgspec.structs.replace(
                settings,
                email_backend="smtp",
                smtp_host="127.0.0.1",
                smtp_port=server.port,
                smtp_username="hub",
                smtp_password="wrong",
            )
        )
        _, created = book(tenant)
        event = outbox_id(db, created["id"], "booking.created")

        result = send_booking_emails(event)

        assert result == {"outcome": "failed", "code": "smtp_auth_failed", "error": result["error"]}
        (row,) = sends(db, event).values()  # stopped at the first recipient: the rest would fail alike
        assert row.status == "failed"
        assert (row.error or "").startswith("smtp_auth_failed")
        assert server.mailbox.messages == []


def test_the_file_backend_leaves_eml_files_under_the_data_dir(
    tenant: Tenant, db: Database, settings: Settings, use_settings: Install, tmp_path: Path
) -> None:
    use_settings(msgspec.structs.replace(settings, email_backend="file", data_dir=tmp_path))
    _, created = book(tenant, attendees=[{"email": GUEST, "name": "Guest One"}])
    event = outbox_id(db, created["id"], "booking.created")

    send_booking_emails(event)
    send_booking_emails(event)

    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 2  # the guest and the host, once each
    recipients = set()
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        recipients.add(message["To"].addresses[0].addr_spec)
        assert parse_calendar(message)[1]["UID"] == f"{created['id']}@hub"
    assert recipients == {GUEST, HOST}


def add_outbox_row(db: Database, organization_id: str, event_type: str, payload: dict[str, Any]) -> str:
    outbox = new_id("outbox")
    with db.write() as session:
        session.add(
            OutboxMessage(
                id=outbox,
                organization_id=organization_id,
                event_type=event_type,
                aggregate_type="booking",
                aggregate_id="bkg_x",
                payload=payload,
                context={},
                created_at=utcnow(),
                dispatched_at=None,
            )
        )
    return outbox


def test_other_events_missing_rows_and_unreadable_payloads_send_nothing(
    tenant: Tenant, db: Database, smtp_server: SmtpServer, smtp_settings: Settings
) -> None:
    other = add_outbox_row(db, tenant.organization_id, "connection.synced", {})
    assert send_booking_emails(other) == {"outcome": "ignored"}

    missing = send_booking_emails(new_id("outbox"))
    assert missing["outcome"] == "skipped"
    assert missing["code"] == "outbox_missing"

    broken = add_outbox_row(db, tenant.organization_id, "booking.created", {"id": "bkg_x"})
    failed = send_booking_emails(broken)  # recorded and not retried: retrying cannot fix it
    assert failed["outcome"] == "failed"
    assert failed["code"] == "email_bad_payload"
    assert smtp_server.mailbox.messages == []


def run_on_a_worker(settings: Settings, db: Database, outbox: str) -> Job:
    """Enqueue the email job as the dispatcher does and let a real Hub worker run it (on a queue
    of its own, so no other test's jobs run here)."""
    connection = connect(settings.redis_url or "", socket_timeout=None)
    name = f"email-test-{uuid.uuid4().hex[:8]}"
    job = enqueue(connection, send_booking_emails, outbox, queue_name=name, id=job_id("email", outbox))
    run_jobs(settings, db, connection, [name])
    job.refresh()
    return job


def test_a_stored_attendee_name_with_a_line_break_fails_only_that_recipient(
    tenant: Tenant, db: Database, smtp_server: SmtpServer, smtp_settings: Settings
) -> None:
    """Data written before the API refused line breaks: the job records that recipient's failure
    once, with a code, and every other participant still gets the invitation."""
    mailbox = smtp_server.mailbox
    host = tenant.create_user(name="Ada Host", email=HOST, timezone="Europe/Berlin")
    legacy = {
        "id": "bkg_01m86kmfsa4gapcqvjvg7ztzcr",
        "host_id": host["id"],
        "start": "2030-12-02T08:00:00Z",
        "end": "2030-12-02T08:30:00Z",
        "timezone": "Europe/Berlin",
        "title": "Intro\r\ncall",
        "attendees": [
            {"email": "eve@example.com", "name": "Eve\r\nBcc: victim@example.net"},
            {"email": GUEST, "name": "Guest One"},
        ],
    }
    event = add_outbox_row(db, tenant.organization_id, "booking.created", legacy)

    job = run_on_a_worker(smtp_settings, db, event)

    assert job.get_status() == JobStatus.FINISHED  # not failed, not waiting for a retry
    assert job.return_value() == {"outcome": "completed", "kind": "confirmation", "sent": 2, "failed": 1, "skipped": 0}
    delivered = sorted(address for received in mailbox.messages for address in received.rcpt_tos)
    assert delivered == sorted([GUEST, HOST])  # and nothing to the address smuggled into the name
    assert only(mailbox.to(GUEST))["Subject"] == "Invitation: Intro call @ Mon 2 Dec 2030 09:00 (Europe/Berlin)"
    recorded = sends(db, event)
    assert {r: row.status for r, row in recorded.items()} == {"eve@example.com": "failed", GUEST: "sent", HOST: "sent"}
    assert (recorded["eve@example.com"].error or "").startswith("email_invalid_recipient: ")

    # Running the job again sends nobody anything twice and records the same failure, once.
    again = run_on_a_worker(smtp_settings, db, event)
    assert again.return_value() == {
        "outcome": "completed",
        "kind": "confirmation",
        "sent": 0,
        "failed": 1,
        "skipped": 2,
    }
    assert len(mailbox.messages) == 2
    assert len(sends(db, event)) == 3


def test_a_stored_host_name_with_a_line_break_leaves_only_the_host_without_email(
    tenant: Tenant, db: Database, smtp_server: SmtpServer, smtp_settings: Settings
) -> None:
    host = tenant.create_user(name="Ada Host", email=HOST, timezone="Europe/Berlin")
    with db.write() as session:
        session.execute(update(User).where(User.id == host["id"]).values(name="Ada\nHost"))
    legacy = {
        "id": "bkg_01m86kmfsa4gapcqvjvg7ztzcs",
        "host_id": host["id"],
        "start": "2030-12-02T08:00:00Z",
        "end": "2030-12-02T08:30:00Z",
        "timezone": "Europe/Berlin",
        "attendees": [{"email": GUEST, "name": "Guest One"}],
    }
    event = add_outbox_row(db, tenant.organization_id, "booking.created", legacy)

    job = run_on_a_worker(smtp_settings, db, event)

    assert job.get_status() == JobStatus.FINISHED
    invitation = only(smtp_server.mailbox.to(GUEST))
    assert invitation["Reply-To"].addresses[0].addr_spec == HOST  # without the name no header can carry
    recorded = sends(db, event)
    assert recorded[GUEST].status == "sent"
    assert recorded[HOST].status == "failed"
    assert (recorded[HOST].error or "").startswith("email_invalid_recipient: ")


def test_a_team_booking_sends_one_invitation_each_listing_every_host(
    tenant: Tenant, db: Database, smtp_server: SmtpServer, smtp_settings: Settings
) -> None:
    first = tenant.create_user(name="Ada Host", email=HOST)
    second = tenant.create_user(name="Bo Host", email="bo@example.com")
    body_ = booking(first["id"], f"{MONDAY}T10:00:00", duration_minutes=30, attendees=[{"email": GUEST}])
    del body_["host_id"]
    created = create_booking(tenant.client, {**body_, "host_ids": [first["id"], second["id"]]})

    result = send_booking_emails(outbox_id(db, created["id"], "booking.created"))

    assert result["sent"] == 3
    guest_mail = only(smtp_server.mailbox.to(GUEST))
    assert "Ada Host <ada@example.com>, Bo Host <bo@example.com>" in body(guest_mail, "plain")
    _, event = parse_calendar(guest_mail)
    listed = {str(a).removeprefix("mailto:") for a in event["ATTENDEE"]}
    assert listed == {HOST, "bo@example.com", GUEST}
    subject = str(only(smtp_server.mailbox.to("bo@example.com"))["Subject"]).strip()
    assert subject.startswith("New booking:"), subject  # a host's copy, not a guest's invitation
