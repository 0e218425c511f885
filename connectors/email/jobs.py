"""The outbox consumer: one email per recipient for each ``booking.created`` (confirmation,
``METHOD:REQUEST``) and ``booking.cancelled`` (cancellation, ``METHOD:CANCEL``) event.

Idempotent per (outbox event, recipient): before sending, the job looks for an ``EmailSend``
row with status ``sent`` and skips that recipient; right after each send it records the row.
So dispatching an event twice, or re-running a job that died halfway, sends nobody the same
email twice. A transient failure (server down, 4xx) is raised, and RQ retries the job later;
the recipients already served are then skipped. A recipient the server refuses for good is
recorded as ``failed`` with the error code and the job goes on with the others, and so is a
recipient whose stored name or address no email header can carry (``email_invalid_recipient``:
a line break or NUL in data written before the API refused them). A permanent failure of Hub's
own SMTP setup is recorded for the recipient at hand and ends the job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec
import structlog
from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.email.invite import KINDS, BookingPayload, Invite, Person, invite_for, parse_payload
from connectors.email.notifier import InvalidRecipient, compose, message_id, sender_domain
from connectors.email.transport import MessageRefused, transport_for
from hub.clock import utcnow
from hub.db import Database
from hub.db.tables import Booking, EmailSend, OutboxMessage, User
from hub.errors import PermanentError, SkippableError
from hub.jobs.context import context
from hub.jobs.runner import hub_job

log = structlog.get_logger("connectors.email")

SENDS = Counter(
    "hub_email_sends_total",
    "Booking emails per recipient: sent, failed (refused for good) or skipped (sent before).",
    ["result"],
)
for _result in ("sent", "failed", "skipped"):
    SENDS.labels(_result)


@dataclass
class _Work:
    organization_id: str
    invite: Invite
    already_sent: set[str] = field(default_factory=set)


def _sequence(session: Session, event_type: str, booking: BookingPayload) -> int:
    """The booking's SEQUENCE for this event: 0 when created; on cancellation the stored one
    (cancelling increments it), unless the event itself carries it."""
    if booking.sequence is not None:
        return booking.sequence
    if event_type == "booking.created":
        return 0
    row = session.get(Booking, booking.id)
    return max(row.sequence if row is not None else 1, 1)


def _load(db: Database, outbox_id: str) -> _Work | None:
    with db.read() as session:
        message = session.get(OutboxMessage, outbox_id)
        if message is None:
            raise SkippableError(f"outbox row {outbox_id} does not exist", code="outbox_missing")
        if message.event_type not in KINDS:
            return None
        try:
            booking = parse_payload(message.payload)
        except msgspec.ValidationError as exc:
            raise PermanentError(f"outbox row {outbox_id} is not a booking: {exc}", code="email_bad_payload") from None
        host = session.get(User, booking.host_id)
        if host is None:
            raise PermanentError(f"host {booking.host_id} of {booking.id} does not exist", code="email_host_missing")
        invite = invite_for(
            message.event_type,
            booking,
            Person(host.email, host.name),
            sequence=_sequence(session, message.event_type, booking),
            stamp=message.created_at,
        )
        sent = session.scalars(
            select(EmailSend.recipient).where(EmailSend.outbox_id == outbox_id, EmailSend.status == "sent")
        )
        return _Work(message.organization_id, invite, set(sent))


def _record(db: Database, work: _Work, outbox_id: str, recipient: str, message_id: str, error: str | None) -> None:
    """Insert or update the ``EmailSend`` row of (outbox event, recipient)."""
    now = utcnow()
    with db.write() as session:
        row = session.scalar(
            select(EmailSend).where(EmailSend.outbox_id == outbox_id, EmailSend.recipient == recipient)
        )
        if row is None:
            row = EmailSend(
                organization_id=work.organization_id,
                outbox_id=outbox_id,
                booking_id=work.invite.booking_id,
                kind=work.invite.kind,
                recipient=recipient,
                created_at=now,
            )
            session.add(row)
        row.status = "failed" if error else "sent"
        row.message_id = message_id
        row.error = error
        row.sent_at = None if error else now


@hub_job("email.booking")
def send_booking_emails(outbox_id: str) -> dict[str, object]:
    """Email the host and every attendee about one booking event, each at most once."""
    ctx = context()
    work = _load(ctx.db, outbox_id)
    if work is None:
        return {"outcome": "ignored"}
    structlog.contextvars.bind_contextvars(outbox_id=outbox_id, booking_id=work.invite.booking_id)
    transport = transport_for(ctx.settings)
    counts = {"sent": 0, "failed": 0, "skipped": 0}
    for recipient in work.invite.recipients():
        if recipient.email in work.already_sent:
            counts["skipped"] += 1
            SENDS.labels("skipped").inc()
            continue
        invite = work.invite
        sent_id = message_id(
            invite.booking_id, invite.sequence, recipient.email, sender_domain(ctx.settings.email_from)
        )
        try:
            message = compose(invite, recipient, sender=ctx.settings.email_from, now=utcnow())
            transport.send(message)
        except PermanentError as exc:
            _record(ctx.db, work, outbox_id, recipient.email, sent_id, f"{exc.code}: {exc.message}")
            counts["failed"] += 1
            SENDS.labels("failed").inc()
            log.warning("email.failed", kind=work.invite.kind, code=exc.code, error=exc.message)
            if not isinstance(exc, (MessageRefused, InvalidRecipient)):
                raise  # Hub's own SMTP setup is wrong: the next recipient would fail the same way
            continue
        _record(ctx.db, work, outbox_id, recipient.email, sent_id, None)
        counts["sent"] += 1
        SENDS.labels("sent").inc()
    log.info("email.completed", kind=work.invite.kind, **counts)
    return {"outcome": "completed", "kind": work.invite.kind, **counts}
