"""The safety nets behind push and the queue: quiet calendars get a sync (push is not 100 %
reliable) and a push channel if they have none; calendars of providers without push (CalDAV)
are polled every ``ConnectorSpec.poll_every``; unlinks and notifications whose job was lost
(Redis was down) get it again. Polls are coalesced like any other sync (``request_sync``)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from hub.clock import utcnow
from hub.connections._requests import request_processing, request_subscribe, request_sync, request_unlink
from hub.connectors import specs
from hub.db.tables import Calendar, Connection, InboundNotification, PushChannel
from hub.jobs.context import JobContext

QUIET_AFTER = timedelta(hours=6)  # a busy calendar not synced for this long is synced
UNLINK_GRACE = timedelta(minutes=2)  # the unlink job's head start
INBOX_GRACE = timedelta(seconds=15)  # the intake's own enqueue's head start
INBOX_BATCH = 500
POLL_SLACK = timedelta(seconds=30)  # the sweep runs every minute: poll a little early, never late


def sweep_quiet_calendars(ctx: JobContext) -> dict[str, int]:
    """Sync calendars that were quiet too long, and subscribe busy calendars that have no live
    push channel (a failed or lapsed one)."""
    now = utcnow()
    cutoff = now - QUIET_AFTER
    with ctx.db.read() as session:
        busy = (
            select(Calendar.id)
            .join(Connection, Connection.id == Calendar.connection_id)
            .where(
                Calendar.busy_source.is_(True),
                Calendar.removed_at.is_(None),
                Connection.status.in_(("active", "error")),
            )
        )
        quiet = list(
            session.scalars(busy.where((Connection.last_synced_at.is_(None)) | (Connection.last_synced_at < cutoff)))
        )
        live = select(PushChannel.calendar_id).where(PushChannel.status == "active", PushChannel.expires_at > now)
        pushed = [s.slug for s in specs() if "push" in s.capabilities]
        unsubscribed = list(session.scalars(busy.where(Calendar.id.not_in(live), Connection.provider.in_(pushed))))
    synced = sum(request_sync(ctx.redis, calendar_id, "schedule") for calendar_id in quiet)
    for calendar_id in unsubscribed:
        request_subscribe(ctx.redis, calendar_id)
    return {"requested": synced, "subscribed": len(unsubscribed)}


def sweep_polled_calendars(ctx: JobContext) -> dict[str, int]:
    """Sync the busy calendars of providers without push whose last sync is older than their
    provider's ``poll_every`` (a failing one too: each poll is a new attempt)."""
    now = utcnow()
    due: list[str] = []
    with ctx.db.read() as session:
        for polled in (s for s in specs() if s.poll_every is not None):
            assert polled.poll_every is not None
            cutoff = now - polled.poll_every + POLL_SLACK
            due.extend(
                session.scalars(
                    select(Calendar.id)
                    .join(Connection, Connection.id == Calendar.connection_id)
                    .where(
                        Connection.provider == polled.slug,
                        Connection.status.in_(("active", "error")),
                        Calendar.busy_source.is_(True),
                        Calendar.removed_at.is_(None),
                        (Connection.last_synced_at.is_(None)) | (Connection.last_synced_at < cutoff),
                    )
                )
            )
    return {"requested": sum(request_sync(ctx.redis, calendar_id, "schedule") for calendar_id in due)}


def sweep_unlinks(ctx: JobContext) -> dict[str, int]:
    """Unlinked connections whose unlink job never ran still hold credentials."""
    cutoff = utcnow() - UNLINK_GRACE
    with ctx.db.read() as session:
        ids = list(
            session.scalars(
                select(Connection.id).where(
                    Connection.status == "revoked",
                    Connection.credentials_ciphertext.is_not(None),
                    Connection.revoked_at < cutoff,
                )
            )
        )
    for connection_id in ids:
        request_unlink(ctx.redis, connection_id)
    return {"requeued": len(ids)}


def sweep_inbox(ctx: JobContext) -> dict[str, int]:
    """Notifications stored while Redis was down get their processing job now."""
    cutoff = utcnow() - INBOX_GRACE
    with ctx.db.read() as session:
        ids = list(
            session.scalars(
                select(InboundNotification.id)
                .where(InboundNotification.status == "received", InboundNotification.received_at < cutoff)
                .limit(INBOX_BATCH)
            )
        )
    for notification_id in ids:
        request_processing(ctx.redis, notification_id)
    return {"requeued": len(ids)}
