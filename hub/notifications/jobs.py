"""The outbox consumer: one email per recipient for each ``booking.created`` (confirmation,
``METHOD:REQUEST``) and ``booking.cancelled`` (cancellation, ``METHOD:CANCEL``) event.

The notifier connector routes both events here (its spec's ``OutboxConsumer``), composes each
message and sends it; this job decides who is sent what, at most once. Idempotent per (outbox
event, recipient): a recipient with a ``sent`` row in the ledger is skipped, and each send is
recorded right after it. So dispatching an event twice, or re-running a job that died halfway,
sends nobody the same email twice. A transient failure (server down, 4xx) is raised, and RQ
retries the job later; the recipients already served are then skipped. A recipient that cannot
be served for good (the notifier raises ``SkippableError``: refused by the server, or a stored
name or address no email header can carry, ``email_invalid_recipient``) is recorded as
``failed`` with the error code and the job goes on with the others. A ``PermanentError`` (Hub's
own SMTP setup) is recorded for the recipient at hand and ends the job.
"""

from __future__ import annotations

import structlog
from prometheus_client import Counter

from hub.errors import PermanentError, SkippableError
from hub.jobs.context import context
from hub.jobs.runner import hub_job
from hub.notifications import _ledger as ledger
from hub.notifications._notices import booking_notice
from hub.notifications.sending import notifier_for

log = structlog.get_logger("hub.notifications")

SENDS = Counter(
    "hub_email_sends_total",
    "Booking emails per recipient: sent, failed (refused for good) or skipped (sent before).",
    ["result"],
)
for _result in ("sent", "failed", "skipped"):
    SENDS.labels(_result)


@hub_job("email.booking")
def send_booking_emails(outbox_id: str) -> dict[str, object]:
    """Email the host and every attendee about one booking event, each at most once."""
    ctx = context()
    with ctx.db.read() as session:
        found = booking_notice(session, outbox_id)
        if found is None:
            return {"outcome": "ignored"}
        organization_id, notice = found
        already_sent = ledger.already_sent(session, outbox_id)
    structlog.contextvars.bind_contextvars(outbox_id=outbox_id, booking_id=notice.booking_id)
    notifier = notifier_for(ctx)
    counts = {"sent": 0, "failed": 0, "skipped": 0}
    for recipient in notifier.recipients(notice):
        if recipient.email in already_sent:
            counts["skipped"] += 1
            SENDS.labels("skipped").inc()
            continue
        message_id = notifier.message_id(notice, recipient)
        try:
            notifier.send(notice, recipient)
        except (SkippableError, PermanentError) as exc:
            error = f"{exc.code}: {exc.message}"
            ledger.record(ctx.db, organization_id, outbox_id, notice, recipient.email, message_id, error)
            counts["failed"] += 1
            SENDS.labels("failed").inc()
            log.warning("email.failed", kind=notice.kind, code=exc.code, error=exc.message)
            if isinstance(exc, PermanentError):
                raise  # Hub's own SMTP setup is wrong: the next recipient would fail the same way
            continue
        ledger.record(ctx.db, organization_id, outbox_id, notice, recipient.email, message_id, None)
        counts["sent"] += 1
        SENDS.labels("sent").inc()
    log.info("email.completed", kind=notice.kind, **counts)
    return {"outcome": "completed", "kind": notice.kind, **counts}
