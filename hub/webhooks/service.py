"""Webhook intake. No provider call happens here: the notification is verified against the
channel Hub created (constant-time), stored in the inbox under a unique dedup key (so a
repeated notification is counted, never acted on twice), and a coalesced sync is enqueued.
The inbox is in the database, so if Redis is down the notification is still kept and the inbox
sweep processes it later."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Final

import redis
import structlog
from prometheus_client import Counter
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from hub.clock import utcnow
from hub.connections import request_processing, request_sync
from hub.connectors import Notification
from hub.db import Database
from hub.db.tables import InboundNotification, PushChannel
from hub.ids import new_id
from hub.statuses import NotificationStatus

log = structlog.get_logger("hub.webhooks")

# The most notifications one request may carry; a request with more is refused (413) before any
# is looked up. Graph batches: it "may send multiple notifications that correspond to different
# subscriptions in the same POST request" (MS-WH), but documents no number. At the default 64 KiB
# body limit a batch of Graph's basic event notifications (500 to 600 bytes each) holds about a
# hundred; Google sends one per request.
MAX_NOTIFICATIONS: Final = 1_000

INTAKE = Counter(
    "hub_webhook_notifications_total", "Provider notifications received, by provider and result", ["provider", "result"]
)


def _matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hashlib.sha256(secret.encode()).hexdigest(), stored_hash)


def accept(db: Database, redis_client: redis.Redis, provider: str, notifications: list[Notification]) -> dict[str, int]:
    """Store what verifies; returns counts by result (accepted, duplicate, unknown, rejected, sync).

    The batch's channels are read in one query, however many notifications it carries: an
    unauthenticated request costs Hub one database round trip, not one per item. Each item's
    secret is then compared in constant time against its own channel's.

    A change asks for a coalesced sync of its calendar right here (one Redis flag check, so a
    burst of a thousand notifications queues one sync); lifecycle events get a job of their
    own. If Redis is down the row stays ``received`` and the inbox sweep finishes the work."""
    counts = {"accepted": 0, "duplicate": 0, "unknown": 0, "rejected": 0, "sync": 0}
    channels = _channels(db, provider, {item.channel_id for item in notifications})
    unknown: list[str] = []
    for item in notifications:
        channel = channels.get(item.channel_id)
        if channel is None:
            result, row = "unknown", None
            unknown.append(item.channel_id)
        else:
            result, row = _accept_one(db, provider, item, channel)
        counts[result] += 1
        INTAKE.labels(provider, result).inc()
        if result == "accepted" and row is not None:
            _follow_up(db, redis_client, row)
    if unknown:  # one line per request, not one per item
        log.info("webhook.unknown_channel", provider=provider, channel_id=unknown[0][:80], count=len(unknown))
    return counts


def _channels(db: Database, provider: str, channel_ids: set[str]) -> dict[str, PushChannel]:
    """This provider's channels among ``channel_ids``, by channel id, in one query."""
    if not channel_ids:
        return {}
    with db.read() as session:
        rows = session.scalars(select(PushChannel).where(PushChannel.channel_id.in_(sorted(channel_ids))))
        return {row.channel_id: row for row in rows if row.provider == provider}


def _follow_up(db: Database, redis_client: redis.Redis, row: InboundNotification) -> None:
    try:
        if row.kind == "change" and row.calendar_id is not None:
            request_sync(redis_client, row.calendar_id, "webhook")
            with db.write() as session:
                session.execute(
                    update(InboundNotification)
                    .where(InboundNotification.id == row.id)
                    .values(status="processed", processed_at=utcnow())
                )
        else:
            request_processing(redis_client, row.id)
    except redis.RedisError as exc:
        log.warning("webhook.enqueue_deferred", error=type(exc).__name__)  # the inbox sweep picks it up


def _accept_one(
    db: Database, provider: str, item: Notification, channel: PushChannel
) -> tuple[str, InboundNotification | None]:
    if not _matches(item.secret, channel.secret_hash):
        log.warning("webhook.bad_secret", provider=provider, channel_id=channel.id)
        return "rejected", None
    status: NotificationStatus = "ignored" if item.kind == "sync" or channel.status != "active" else "received"
    row = InboundNotification(
        id=new_id("notification"),
        provider=provider,
        dedup_key=item.dedup_key[:512],
        connection_id=channel.connection_id,
        calendar_id=channel.calendar_id,
        kind=item.kind,
        status=status,
        duplicates=0,
        detail={**item.detail, "channel_id": item.channel_id},
        received_at=utcnow(),
        processed_at=None,
    )
    try:
        with db.write() as session:
            session.add(row)
    except IntegrityError:
        with db.write() as session:
            session.execute(
                update(InboundNotification)
                .where(InboundNotification.dedup_key == item.dedup_key[:512])
                .values(duplicates=InboundNotification.duplicates + 1)
            )
        log.info("webhook.duplicate", provider=provider, channel_id=channel.id)
        return "duplicate", None
    if status == "ignored":
        return "sync", None
    return "accepted", row


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}
