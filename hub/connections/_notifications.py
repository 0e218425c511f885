"""Acting on a stored provider notification the intake did not finish itself: a change (or a
missed batch) asks for a sync; a removed subscription is marked stopped and subscribed again;
a reauthorization request renews the channel. The row is then ``processed``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from hub.clock import utcnow
from hub.connections._push import renew_one
from hub.connections._requests import request_subscribe, request_sync
from hub.db.tables import InboundNotification, PushChannel
from hub.jobs.context import JobContext


def process_notification(ctx: JobContext, notification_id: str) -> dict[str, Any]:
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
            renew_one(ctx, channel)
        request_sync(ctx.redis, item.calendar_id, "webhook")
    with ctx.db.write() as session:
        session.execute(
            update(InboundNotification)
            .where(InboundNotification.id == notification_id)
            .values(status="processed", processed_at=utcnow())
        )
    return {"outcome": "processed", "kind": item.kind}
