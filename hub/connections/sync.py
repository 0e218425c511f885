"""The work behind the connection jobs, against the connector protocols only.

Every sync writes a ``sync_runs`` row and updates the connection's health. The cursor (sync
token / delta link) is saved in the same transaction as the events it covers, so it is never
ahead of what Hub stored. Transient failures are recorded and raised (the queue retries);
a revoked grant marks the connection ``reauth_required`` and tells the client once.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from datetime import timedelta
from typing import Any

import structlog
from rq import get_current_job
from sqlalchemy import delete, select, update

from hub.clock import utcnow
from hub.connections.credentials import StoredCredentials
from hub.connections.service import record_failure, record_success
from hub.connectors import ChangeBatch, ChannelInfo, Connector, OutboundEvent, ProviderCalendar, ResyncRequired, spec
from hub.db.tables import (
    Booking,
    BookingEvent,
    Calendar,
    Connection,
    ExternalEvent,
    InboundNotification,
    OutboxMessage,
    PushChannel,
    SyncRun,
    User,
)
from hub.errors import PermanentError, PipelineError, ReauthRequired, SkippableError, TransientError
from hub.ids import new_id
from hub.jobs.context import JobContext
from hub.observability.tracing import current_trace_id

log = structlog.get_logger("hub.connections")

FULL_SYNC_EVERY = timedelta(days=7)

__all__ = ["utcnow"]


def connector_for(ctx: JobContext, provider: str) -> Connector:
    cache: dict[str, Connector] = ctx.extras.setdefault("connectors", {})
    if provider not in cache:
        cache[provider] = spec(provider).build(ctx.settings)
    return cache[provider]


def _credentials(ctx: JobContext, connection: Connection) -> StoredCredentials:
    return StoredCredentials(ctx.db, ctx.keyring, connection)


def _provider_calendar(calendar: Calendar, fallback_zone: str | None = None) -> ProviderCalendar:
    """The calendar as connectors see it; a calendar without its own zone (Graph calendars have
    none) reads all-day events in the owner's zone."""
    return ProviderCalendar(
        calendar.provider_calendar_id, calendar.name, calendar.primary, calendar.timezone or fallback_zone
    )


def _usable(connection: Connection | None) -> Connection:
    if connection is None:
        raise SkippableError("the connection no longer exists", code="connection_missing")
    if connection.status in ("revoked", "reauth_required"):
        raise SkippableError(f"the connection is {connection.status}", code=f"connection_{connection.status}")
    return connection


def _fail(ctx: JobContext, connection_id: str, exc: PipelineError) -> None:
    status = (
        "reauth_required" if isinstance(exc, ReauthRequired) else ("error" if isinstance(exc, PermanentError) else None)
    )
    with ctx.db.write() as session:
        connection = session.get(Connection, connection_id)
        if connection is not None:
            record_failure(
                session,
                connection,
                utcnow(),
                code=exc.code,
                message=exc.message,
                status=status,
                provider_code=exc.provider_code,
            )


# --- calendars --------------------------------------------------------------------------------


def refresh_calendars(ctx: JobContext, connection_id: str) -> list[str]:
    """List the account's calendars; the primary one is busy source and booking target by default.
    Returns the ids of the busy-source calendars."""
    with ctx.db.read() as session:
        connection = _usable(session.get(Connection, connection_id))
    connector = connector_for(ctx, connection.provider)
    try:
        found = connector.calendars.list_calendars(_credentials(ctx, connection))
    except (ReauthRequired, PermanentError) as exc:
        _fail(ctx, connection_id, exc)
        raise
    now = utcnow()
    with ctx.db.write() as session:
        existing = {
            c.provider_calendar_id: c
            for c in session.scalars(select(Calendar).where(Calendar.connection_id == connection_id))
        }
        first_link = not existing
        for item in found:
            calendar = existing.pop(item.provider_calendar_id, None)
            if calendar is None:
                calendar = Calendar(
                    id=new_id("calendar"),
                    connection_id=connection_id,
                    provider_calendar_id=item.provider_calendar_id,
                    busy_source=item.primary,
                    booking_target=item.primary and item.writable and first_link,
                    created_at=now,
                    sync_cursor=None,
                    last_full_sync_at=None,
                )
                session.add(calendar)
            calendar.name, calendar.timezone, calendar.primary, calendar.removed_at = (
                item.name,
                item.timezone,
                item.primary,
                None,
            )
        for gone in existing.values():
            gone.removed_at = gone.removed_at or now
            gone.busy_source = gone.booking_target = False
        session.flush()
        return list(
            session.scalars(
                select(Calendar.id).where(
                    Calendar.connection_id == connection_id,
                    Calendar.busy_source.is_(True),
                    Calendar.removed_at.is_(None),
                )
            )
        )


# --- sync ---------------------------------------------------------------------------------------


def sync_calendar(ctx: JobContext, calendar_id: str, trigger: str) -> dict[str, Any]:
    with ctx.db.read() as session:
        calendar = session.get(Calendar, calendar_id)
        if calendar is None or calendar.removed_at is not None or not calendar.busy_source:
            raise SkippableError("the calendar is no longer a busy source", code="calendar_not_synced")
        connection = _usable(session.get(Connection, calendar.connection_id))
        owner = session.get(User, connection.user_id)
    zone = owner.timezone if owner is not None else None
    job = get_current_job()
    run = SyncRun(
        id=new_id("sync_run"),
        organization_id=connection.organization_id,
        connection_id=connection.id,
        calendar_id=calendar.id,
        provider=connection.provider,
        trigger=trigger,
        full=calendar.sync_cursor is None,
        outcome="running",
        events_upserted=0,
        events_deleted=0,
        job_id=job.id if job else None,
        started_at=utcnow(),
        trace_id=current_trace_id(),
    )
    with ctx.db.write() as session:
        session.add(run)
    started = time.perf_counter()
    structlog.contextvars.bind_contextvars(
        connection_id=connection.id, provider=connection.provider, sync_run_id=run.id
    )
    connector = connector_for(ctx, connection.provider)
    credentials = _credentials(ctx, connection)
    cursor = calendar.sync_cursor
    if trigger == "schedule" and (
        calendar.last_full_sync_at is None or utcnow() - calendar.last_full_sync_at > FULL_SYNC_EVERY
    ):
        cursor = None  # move a provider's fixed sync window (Graph delta) forward now and then
    provider_calendar = _provider_calendar(calendar, zone)
    try:
        try:
            batch = connector.feed.pull(credentials, provider_calendar, cursor)
        except ResyncRequired:
            log.info("sync.resync_required", calendar_id=calendar.id)
            batch = connector.feed.pull(credentials, provider_calendar, None)
        upserted, deleted = _store(ctx, calendar, connection, batch, run.id, started)
    except PipelineError as exc:
        _finish_failed(ctx, run.id, connection.id, exc, started)
        raise
    log.info(
        "sync.completed",
        calendar_id=calendar.id,
        trigger=trigger,
        full=batch.full,
        upserted=upserted,
        deleted=deleted,
        duration_ms=int((time.perf_counter() - started) * 1000),
    )
    return {"sync_run_id": run.id, "full": batch.full, "upserted": upserted, "deleted": deleted}


def _store(
    ctx: JobContext, calendar: Calendar, connection: Connection, batch: ChangeBatch, run_id: str, started: float
) -> tuple[int, int]:
    now = utcnow()
    keep = [c for c in batch.changes if c.busy and c.start is not None and c.end is not None and c.end > c.start]
    drop = [c.provider_event_id for c in batch.changes if c not in keep]
    with ctx.db.write() as session:
        deleted = 0
        if batch.full:
            result = session.execute(delete(ExternalEvent).where(ExternalEvent.calendar_id == calendar.id))
            deleted = int(result.rowcount or 0)  # type: ignore[attr-defined]
        elif drop:
            for chunk in _chunks(drop, 500):
                result = session.execute(
                    delete(ExternalEvent).where(
                        ExternalEvent.calendar_id == calendar.id, ExternalEvent.provider_event_id.in_(chunk)
                    )
                )
                deleted += int(result.rowcount or 0)  # type: ignore[attr-defined]
        if keep and not batch.full:
            for chunk in _chunks([c.provider_event_id for c in keep], 500):
                session.execute(
                    delete(ExternalEvent).where(
                        ExternalEvent.calendar_id == calendar.id, ExternalEvent.provider_event_id.in_(chunk)
                    )
                )
        if keep:
            session.add_all(
                [
                    ExternalEvent(
                        calendar_id=calendar.id,
                        user_id=connection.user_id,
                        provider_event_id=c.provider_event_id,
                        start_at=c.start,
                        end_at=c.end,
                        updated_at=now,
                    )
                    for c in {c.provider_event_id: c for c in keep}.values()
                ]
            )
        session.execute(
            update(Calendar)
            .where(Calendar.id == calendar.id)
            .values(sync_cursor=batch.cursor, **({"last_full_sync_at": now} if batch.full else {}))
        )
        session.execute(
            update(SyncRun)
            .where(SyncRun.id == run_id)
            .values(
                outcome="succeeded",
                full=batch.full,
                events_upserted=len(keep),
                events_deleted=deleted,
                finished_at=now,
                duration_ms=int((time.perf_counter() - started) * 1000),
            )
        )
        live = session.get(Connection, connection.id)
        if live is not None:
            record_success(session, live, now)
    return len(keep), deleted


def _finish_failed(ctx: JobContext, run_id: str, connection_id: str, exc: PipelineError, started: float) -> None:
    now = utcnow()
    status = (
        "reauth_required" if isinstance(exc, ReauthRequired) else ("error" if isinstance(exc, PermanentError) else None)
    )
    with ctx.db.write() as session:
        session.execute(
            update(SyncRun)
            .where(SyncRun.id == run_id)
            .values(
                outcome="failed",
                error_code=exc.code,
                error_provider_code=exc.provider_code,
                error_detail=exc.message[:2000],
                finished_at=now,
                duration_ms=int((time.perf_counter() - started) * 1000),
            )
        )
        connection = session.get(Connection, connection_id)
        if connection is not None:
            record_failure(
                session,
                connection,
                now,
                code=exc.code,
                message=exc.message,
                status=status,
                provider_code=exc.provider_code,
            )


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# --- push ----------------------------------------------------------------------------------------


def _address(ctx: JobContext, provider: str) -> str:
    return f"{ctx.settings.public_url.rstrip('/')}/webhooks/{provider}"


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def subscribe(ctx: JobContext, calendar_id: str) -> dict[str, Any]:
    with ctx.db.read() as session:
        calendar = session.get(Calendar, calendar_id)
        if calendar is None or not calendar.busy_source or calendar.removed_at is not None:
            raise SkippableError("the calendar is not a busy source", code="calendar_not_synced")
        connection = _usable(session.get(Connection, calendar.connection_id))
        active = session.scalar(
            select(PushChannel.id).where(
                PushChannel.calendar_id == calendar_id,
                PushChannel.status == "active",
                PushChannel.expires_at > utcnow(),
            )
        )
    if active is not None:
        return {"outcome": "already_subscribed", "channel": active}
    connector = connector_for(ctx, connection.provider)
    if connector.push is None:
        raise SkippableError("this provider has no push notifications", code="push_unsupported")
    secret = secrets.token_urlsafe(32)
    try:
        info = connector.push.subscribe(
            _credentials(ctx, connection),
            _provider_calendar(calendar),
            channel_id=f"hub-{uuid.uuid4().hex}",
            secret=secret,
            address=_address(ctx, connection.provider),
        )
    except ReauthRequired as exc:
        _fail(ctx, connection.id, exc)
        raise
    except PermanentError as exc:
        # No push for this calendar (e.g. HUB_PUBLIC_URL is not HTTPS): syncs still run on
        # request and from the safety-net sweep. Shown on the connection, which stays active.
        with ctx.db.write() as session:
            live = session.get(Connection, connection.id)
            if live is not None:
                record_failure(
                    session,
                    live,
                    utcnow(),
                    code=exc.code,
                    message=f"push notifications unavailable: {exc.message}",
                    provider_code=exc.provider_code,
                )
        raise SkippableError(exc.message, code=exc.code, provider_code=exc.provider_code) from exc
    _save_channel(ctx, connection, calendar, info, secret)
    return {"channel_id": info.channel_id, "expires_at": info.expires_at.isoformat()}


def _save_channel(ctx: JobContext, connection: Connection, calendar: Calendar, info: ChannelInfo, secret: str) -> None:
    with ctx.db.write() as session:
        session.add(
            PushChannel(
                id=new_id("channel"),
                connection_id=connection.id,
                calendar_id=calendar.id,
                provider=connection.provider,
                channel_id=info.channel_id,
                resource_id=info.resource_id,
                secret_hash=_secret_hash(secret),
                status="active",
                expires_at=info.expires_at,
                created_at=utcnow(),
                stopped_at=None,
            )
        )


def renew_channels(ctx: JobContext) -> dict[str, int]:
    """Renew channels past half their lifetime (Graph: PATCH; Google: a new channel, then stop
    the old one, so there is never a gap)."""
    now = utcnow()
    renewed = failed = 0
    with ctx.db.read() as session:
        channels = list(session.scalars(select(PushChannel).where(PushChannel.status == "active")))
    for channel in channels:
        if channel.expires_at - now > (channel.expires_at - channel.created_at) / 2:
            continue
        try:
            _renew_one(ctx, channel)
            renewed += 1
        except PipelineError as exc:
            failed += 1
            log.warning("push.renew_failed", channel_id=channel.id, code=exc.code)
    return {"renewed": renewed, "failed": failed}


def _renew_one(ctx: JobContext, channel: PushChannel) -> None:
    with ctx.db.read() as session:
        calendar = session.get(Calendar, channel.calendar_id)
        connection = _usable(session.get(Connection, channel.connection_id))
    assert calendar is not None
    connector = connector_for(ctx, connection.provider)
    secret = secrets.token_urlsafe(32)
    old = ChannelInfo(channel.channel_id, channel.resource_id, channel.expires_at)
    info = connector.push.renew(
        _credentials(ctx, connection),
        old,
        _provider_calendar(calendar),
        secret=secret,
        address=_address(ctx, connection.provider),
    )
    with ctx.db.write() as session:
        if info.channel_id == channel.channel_id:
            # extended in place; a renewed Graph subscription keeps its clientState
            session.execute(update(PushChannel).where(PushChannel.id == channel.id).values(expires_at=info.expires_at))
            return
        session.execute(
            update(PushChannel).where(PushChannel.id == channel.id).values(status="stopped", stopped_at=utcnow())
        )
    _save_channel(ctx, connection, calendar, info, secret)


def stop_channels(ctx: JobContext, connection: Connection, connector: Connector) -> int:
    with ctx.db.read() as session:
        channels = list(
            session.scalars(
                select(PushChannel).where(PushChannel.connection_id == connection.id, PushChannel.status == "active")
            )
        )
    credentials = _credentials(ctx, connection)
    for channel in channels:
        try:
            connector.push.stop(credentials, ChannelInfo(channel.channel_id, channel.resource_id, channel.expires_at))
        except (SkippableError, PermanentError, ReauthRequired) as exc:
            log.info("push.stop_failed", channel_id=channel.id, code=exc.code)
    with ctx.db.write() as session:
        session.execute(
            update(PushChannel)
            .where(PushChannel.connection_id == connection.id, PushChannel.status == "active")
            .values(status="stopped", stopped_at=utcnow())
        )
    return len(channels)


def unlink(ctx: JobContext, connection_id: str) -> dict[str, Any]:
    with ctx.db.read() as session:
        connection = session.get(Connection, connection_id)
    if connection is None or connection.credentials_ciphertext is None:
        return {"outcome": "already_unlinked"}
    connector = connector_for(ctx, connection.provider)
    stopped = stop_channels(ctx, connection, connector) if connector.push else 0
    try:
        connector.oauth.revoke(_credentials(ctx, connection))
    except (SkippableError, PermanentError, ReauthRequired) as exc:
        log.info("oauth.revoke_failed", code=exc.code)  # the grant is gone either way
    with ctx.db.write() as session:
        session.execute(update(Connection).where(Connection.id == connection_id).values(credentials_ciphertext=None))
        session.execute(update(Calendar).where(Calendar.connection_id == connection_id).values(sync_cursor=None))
    return {"outcome": "unlinked", "channels_stopped": stopped}


# --- notifications -------------------------------------------------------------------------------


def process_notification(ctx: JobContext, notification_id: str) -> dict[str, Any]:
    from hub.connections.jobs import request_subscribe, request_sync

    with ctx.db.read() as session:
        item = session.get(InboundNotification, notification_id)
    if item is None or item.status != "received" or item.calendar_id is None:
        return {"outcome": "nothing_to_do"}
    if item.kind in ("change", "missed"):
        request_sync(ctx.redis, item.calendar_id, "webhook")
    elif item.kind == "subscriptionRemoved":
        with ctx.db.write() as session:
            session.execute(
                update(PushChannel)
                .where(PushChannel.channel_id == item.detail.get("channel_id", ""))
                .values(status="stopped", stopped_at=utcnow())
            )
        request_subscribe(ctx.redis, item.calendar_id)
        request_sync(ctx.redis, item.calendar_id, "webhook")
    elif item.kind == "reauthorizationRequired":
        with ctx.db.read() as session:
            channel = session.scalar(
                select(PushChannel).where(PushChannel.channel_id == item.detail.get("channel_id", ""))
            )
        if channel is not None and channel.status == "active":
            _renew_one(ctx, channel)
        request_sync(ctx.redis, item.calendar_id, "webhook")
    with ctx.db.write() as session:
        session.execute(
            update(InboundNotification)
            .where(InboundNotification.id == notification_id)
            .values(status="processed", processed_at=utcnow())
        )
    return {"outcome": "processed", "kind": item.kind}


# --- writing bookings into calendars ----------------------------------------------------------


def write_booking(ctx: JobContext, outbox_id: str) -> dict[str, Any]:
    with ctx.db.read() as session:
        message = session.get(OutboxMessage, outbox_id)
        if message is None or message.aggregate_type != "booking":
            return {"outcome": "nothing_to_do"}
        booking = session.get(Booking, message.aggregate_id)
        if booking is None:
            return {"outcome": "nothing_to_do"}
        if message.event_type == "booking.created":
            targets = list(
                session.execute(
                    select(Calendar, Connection)
                    .join(Connection, Connection.id == Calendar.connection_id)
                    .where(
                        Connection.user_id == booking.host_id,
                        Connection.status == "active",
                        Calendar.booking_target.is_(True),
                        Calendar.removed_at.is_(None),
                    )
                )
            )
            written = {
                e.calendar_id
                for e in session.scalars(select(BookingEvent).where(BookingEvent.booking_id == booking.id))
            }
            todo = [(cal, con) for cal, con in targets if cal.id not in written]
            return _write(ctx, booking, todo)
        if message.event_type == "booking.cancelled":
            rows = list(
                session.execute(
                    select(BookingEvent, Calendar, Connection)
                    .join(Calendar, Calendar.id == BookingEvent.calendar_id)
                    .join(Connection, Connection.id == Calendar.connection_id)
                    .where(BookingEvent.booking_id == booking.id, BookingEvent.status == "written")
                )
            )
            return _delete(ctx, rows)
    return {"outcome": "nothing_to_do"}


def _outbound(booking: Booking) -> OutboundEvent:
    return OutboundEvent(
        booking_id=booking.id,
        title=booking.title or "Booking",
        start=booking.start_at,
        end=booking.end_at,
        timezone=booking.timezone,
        attendees=tuple((a["email"], a.get("name")) for a in booking.attendees),
        description=f"Booked through Hub ({booking.id}).",
    )


def _write(ctx: JobContext, booking: Booking, todo: list[tuple[Calendar, Connection]]) -> dict[str, Any]:
    done = 0
    for calendar, connection in todo:
        connector = connector_for(ctx, connection.provider)
        try:
            event_id = connector.calendars.write_event(
                _credentials(ctx, connection), calendar.provider_calendar_id, _outbound(booking)
            )
            status, error = "written", None
        except TransientError:
            raise
        except (ReauthRequired, PermanentError) as exc:
            _fail(ctx, connection.id, exc)
            event_id, status, error = None, "failed", f"{exc.code}: {exc.message}"
        now = utcnow()
        with ctx.db.write() as session:
            session.add(
                BookingEvent(
                    booking_id=booking.id,
                    calendar_id=calendar.id,
                    connection_id=connection.id,
                    provider_event_id=event_id,
                    status=status,
                    error=error,
                    created_at=now,
                    updated_at=now,
                )
            )
        done += status == "written"
    return {"outcome": "written", "events": done}


def _delete(ctx: JobContext, rows: list[Any]) -> dict[str, Any]:
    done = 0
    for record, calendar, connection in rows:
        if connection.status == "revoked":
            continue
        connector = connector_for(ctx, connection.provider)
        try:
            connector.calendars.delete_event(
                _credentials(ctx, connection), calendar.provider_calendar_id, record.provider_event_id
            )
        except SkippableError:
            pass  # already gone
        except (ReauthRequired, PermanentError) as exc:
            _fail(ctx, connection.id, exc)
            continue
        with ctx.db.write() as session:
            session.execute(
                update(BookingEvent).where(BookingEvent.id == record.id).values(status="deleted", updated_at=utcnow())
            )
        done += 1
    return {"outcome": "deleted", "events": done}
