"""Jobs of linked calendars: set up a new link, sync busy time, keep push channels alive,
write bookings into the target calendar, unlink. Entry points are thin; the work is in
``hub.connections.sync`` and the connectors.

Coalescing: a sync is enqueued only if none is already queued for that calendar (a Redis flag
set with NX, cleared when the sync starts), so a burst of notifications yields at most one
queued and one running sync per calendar.
"""

from __future__ import annotations

from datetime import timedelta

import redis
import structlog
from sqlalchemy import select

from hub.jobs.queues import PUSH, SYNC
from hub.jobs.runner import enqueue, job_id

log = structlog.get_logger("hub.connections")

PENDING_TTL = 3600  # a lost flag never blocks syncs for longer than this


def _pending_key(calendar_id: str) -> str:
    return f"hub:sync:pending:{calendar_id}"


def request_sync(connection: redis.Redis, calendar_id: str, trigger: str) -> bool:
    """Enqueue a sync unless one is already queued; True when a job was enqueued."""
    if not connection.set(_pending_key(calendar_id), trigger, nx=True, ex=PENDING_TTL):
        return False
    enqueue(
        connection,
        "hub.connections.jobs.sync_calendar",
        calendar_id,
        trigger,
        queue_name=SYNC,
        id=job_id("sync", calendar_id, trigger),
    )
    return True


def clear_pending(connection: redis.Redis, calendar_id: str) -> None:
    connection.delete(_pending_key(calendar_id))


def request_setup(connection: redis.Redis, connection_id: str) -> None:
    enqueue(
        connection,
        "hub.connections.jobs.setup_connection",
        connection_id,
        queue_name=SYNC,
        id=job_id("setup", connection_id),
    )


def request_subscribe(connection: redis.Redis, calendar_id: str) -> None:
    enqueue(
        connection,
        "hub.connections.jobs.subscribe_push",
        calendar_id,
        queue_name=PUSH,
        id=job_id("subscribe", calendar_id),
    )


def request_unlink(connection: redis.Redis, connection_id: str) -> None:
    enqueue(
        connection,
        "hub.connections.jobs.unlink_connection",
        connection_id,
        queue_name=PUSH,
        id=job_id("unlink", connection_id),
    )


# --- entry points (imported by the worker by path) -----------------------------------------

from hub.connections import sync as _sync  # noqa: E402
from hub.jobs.context import context  # noqa: E402
from hub.jobs.runner import hub_job  # noqa: E402


@hub_job("connections.setup")
def setup_connection(connection_id: str) -> dict[str, object]:
    calendars = _sync.refresh_calendars(context(), connection_id)
    ctx = context()
    for calendar_id in calendars:
        request_sync(ctx.redis, calendar_id, "initial")
        request_subscribe(ctx.redis, calendar_id)
    return {"busy_sources": calendars}


@hub_job("connections.sync")
def sync_calendar(calendar_id: str, trigger: str) -> dict[str, object]:
    ctx = context()
    clear_pending(ctx.redis, calendar_id)
    return _sync.sync_calendar(ctx, calendar_id, trigger)


@hub_job("connections.subscribe")
def subscribe_push(calendar_id: str) -> dict[str, object]:
    return _sync.subscribe(context(), calendar_id)


@hub_job("connections.renew")
def renew_channels() -> dict[str, int]:
    return _sync.renew_channels(context())


@hub_job("connections.unlink")
def unlink_connection(connection_id: str) -> dict[str, object]:
    return _sync.unlink(context(), connection_id)


@hub_job("connections.notification")
def process_notification(notification_id: str) -> dict[str, object]:
    return _sync.process_notification(context(), notification_id)


@hub_job("connections.write_booking")
def write_booking(outbox_id: str) -> dict[str, object]:
    return _sync.write_booking(context(), outbox_id)


@hub_job("sweep.calendars")
def sweep_quiet_calendars() -> dict[str, int]:
    """The safety net: push is not 100 % reliable, so sync calendars that were quiet too long,
    and subscribe busy calendars that have no live push channel (a failed or lapsed one)."""
    from hub.db.tables import Calendar, Connection, PushChannel

    ctx = context()
    now = _sync.utcnow()
    cutoff = now - timedelta(hours=6)
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
        unsubscribed = list(session.scalars(busy.where(Calendar.id.not_in(live))))
    synced = sum(request_sync(ctx.redis, calendar_id, "schedule") for calendar_id in quiet)
    for calendar_id in unsubscribed:
        request_subscribe(ctx.redis, calendar_id)
    return {"requested": synced, "subscribed": len(unsubscribed)}


@hub_job("sweep.unlinks")
def sweep_unlinks() -> dict[str, int]:
    """Unlinked connections whose unlink job never ran (Redis was down) still hold credentials."""
    from hub.db.tables import Connection

    ctx = context()
    cutoff = _sync.utcnow() - timedelta(minutes=2)
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


@hub_job("sweep.inbox")
def sweep_inbox() -> dict[str, int]:
    """Notifications stored while Redis was down get their processing job now."""
    from hub.db.tables import InboundNotification

    ctx = context()
    cutoff = _sync.utcnow() - timedelta(seconds=15)
    with ctx.db.read() as session:
        ids = list(
            session.scalars(
                select(InboundNotification.id)
                .where(InboundNotification.status == "received", InboundNotification.received_at < cutoff)
                .limit(500)
            )
        )
    for notification_id in ids:
        enqueue(
            ctx.redis,
            "hub.connections.jobs.process_notification",
            notification_id,
            queue_name=SYNC,
            id=job_id("notification", notification_id),
        )
    return {"requeued": len(ids)}
