"""Push channels: subscribing a busy calendar to the provider's change notifications (Google
channels, Graph subscriptions), renewing them before they expire, stopping them on unlink.

A channel's secret (Google's channel token, Graph's clientState) is random per channel and
stored only as a hash; the webhook intake compares what a notification carries against it.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any

import structlog
from sqlalchemy import select, update

from hub.clock import utcnow
from hub.connections._access import credentials, fail, part, provider_calendar, usable
from hub.connections.service import record_failure
from hub.connectors import ChannelInfo, PushChannels
from hub.db.tables import Calendar, Connection, PushChannel
from hub.errors import PermanentError, PipelineError, ReauthRequired, SkippableError
from hub.ids import new_id
from hub.jobs.context import JobContext

log = structlog.get_logger("hub.connections")


def _address(ctx: JobContext, provider: str) -> str:
    return f"{ctx.settings.public_url.rstrip('/')}/webhooks/{provider}"


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def subscribe(ctx: JobContext, calendar_id: str) -> dict[str, Any]:
    with ctx.db.read() as session:
        calendar = session.get(Calendar, calendar_id)
        if calendar is None or not calendar.busy_source or calendar.removed_at is not None:
            raise SkippableError("the calendar is not a busy source", code="calendar_not_synced")
        connection = usable(session.get(Connection, calendar.connection_id))
        active = session.scalar(
            select(PushChannel.id).where(
                PushChannel.calendar_id == calendar_id,
                PushChannel.status == "active",
                PushChannel.expires_at > utcnow(),
            )
        )
    if active is not None:
        return {"outcome": "already_subscribed", "channel": active}
    push = part(ctx.connectors.get(connection.provider).push, "push")
    secret = secrets.token_urlsafe(32)
    try:
        info = push.subscribe(
            credentials(ctx, connection),
            provider_calendar(calendar),
            channel_id=f"hub-{uuid.uuid4().hex}",
            secret=secret,
            address=_address(ctx, connection.provider),
        )
    except ReauthRequired as exc:
        fail(ctx, connection.id, exc)
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
            renew_one(ctx, channel)
            renewed += 1
        except PipelineError as exc:
            failed += 1
            log.warning("push.renew_failed", channel_id=channel.id, code=exc.code)
    return {"renewed": renewed, "failed": failed}


def renew_one(ctx: JobContext, channel: PushChannel) -> None:
    with ctx.db.read() as session:
        calendar = session.get(Calendar, channel.calendar_id)
        connection = usable(session.get(Connection, channel.connection_id))
    assert calendar is not None
    push = part(ctx.connectors.get(connection.provider).push, "push")
    secret = secrets.token_urlsafe(32)
    old = ChannelInfo(channel.channel_id, channel.resource_id, channel.expires_at)
    info = push.renew(
        credentials(ctx, connection),
        old,
        provider_calendar(calendar),
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


def stop_channels(ctx: JobContext, connection: Connection, push: PushChannels) -> int:
    """Stop the connection's active channels at the provider (best effort) and mark them stopped."""
    with ctx.db.read() as session:
        channels = list(
            session.scalars(
                select(PushChannel).where(PushChannel.connection_id == connection.id, PushChannel.status == "active")
            )
        )
    stored = credentials(ctx, connection)
    for channel in channels:
        try:
            push.stop(stored, ChannelInfo(channel.channel_id, channel.resource_id, channel.expires_at))
        except (SkippableError, PermanentError, ReauthRequired) as exc:
            log.info("push.stop_failed", channel_id=channel.id, code=exc.code)
    with ctx.db.write() as session:
        session.execute(
            update(PushChannel)
            .where(PushChannel.connection_id == connection.id, PushChannel.status == "active")
            .values(status="stopped", stopped_at=utcnow())
        )
    return len(channels)
