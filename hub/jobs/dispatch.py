"""Outbox dispatch: fan outbox events out to their consumers (client webhooks, email, and the
calendar writes of linked connectors). Each consumer is its own idempotent job, so dispatching
the same row twice sends nothing twice.

Two ways in: ``fan_out`` takes a batch of committed events the relay handed over in one job
(``hub.jobs.relay``), and ``dispatch`` loads one row the sweeper found undispatched.
"""

from __future__ import annotations

from typing import Any

import redis
import structlog
from sqlalchemy import update

from hub.clock import utcnow
from hub.connections import jobs as connections
from hub.connectors import OutboxConsumer, specs
from hub.db.tables import OutboxMessage
from hub.deliveries import jobs as deliveries
from hub.errors import SkippableError
from hub.jobs.context import JobContext, context
from hub.jobs.queues import NOTIFY, SYNC
from hub.jobs.registry import path_of
from hub.jobs.runner import enqueue, hub_job, job_id

log = structlog.get_logger("hub.outbox")

CORE_CONSUMERS: tuple[tuple[str, OutboxConsumer], ...] = (
    (
        "webhooks",
        OutboxConsumer(
            function=path_of(deliveries.fan_out),
            events=frozenset(
                {
                    "booking.created",
                    "booking.cancelled",
                    "booking.rescheduled",
                    "booking.updated",
                    "booking.attendee_responded",
                    "booking.external_change",
                    "connection.reauth_required",
                    "connection.synced",
                }
            ),
            queue=NOTIFY,
        ),
    ),
    (
        "calendar",
        OutboxConsumer(
            function=path_of(connections.write_booking),
            events=frozenset({"booking.created", "booking.cancelled", "booking.rescheduled"}),
            queue=SYNC,
        ),
    ),
)


def consumers_for(event_type: str) -> list[tuple[str, OutboxConsumer]]:
    found = [(name, c) for name, c in CORE_CONSUMERS if event_type in c.events]
    for spec in specs():
        found += [(spec.slug, c) for c in spec.consumers if event_type in c.events]
    return found


def enqueue_consumers(
    connection: redis.Redis, outbox_id: str, event_type: str, meta: dict[str, Any], *, pipeline: Any = None
) -> list[str]:
    """Enqueue every consumer job of one outbox event (job ids make a repeat harmless)."""
    names = []
    for name, consumer in consumers_for(event_type):
        enqueue(
            connection,
            consumer.function,
            outbox_id,
            queue_name=consumer.queue,
            id=job_id(name, outbox_id),
            meta=meta,
            pipeline=pipeline,
        )
        names.append(name)
    return names


@hub_job("outbox.fan_out")
def fan_out(events: list[list[Any]]) -> dict[str, object]:
    """Enqueue the consumer jobs of the relay's batch: ``[outbox id, event type, meta]`` each,
    ``meta`` being what the consumer jobs carry (the request id, the relay span's context)."""
    ctx = context()
    with ctx.redis.pipeline() as pipe:
        for outbox_id, event_type, meta in events:
            enqueue_consumers(ctx.redis, outbox_id, event_type, meta, pipeline=pipe)
        pipe.execute()
    _mark_dispatched(ctx, [outbox_id for outbox_id, _, _ in events])
    return {"outcome": "fanned_out", "events": len(events)}


def _mark_dispatched(ctx: JobContext, ids: list[str]) -> None:
    """Once the consumers are queued the sweeper may leave the rows alone. (If this write
    fails the job is retried; enqueueing the consumers again adds nothing: their job ids.)"""
    with ctx.db.write() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.dispatched_at.is_(None))
            .values(dispatched_at=utcnow())
        )


@hub_job("outbox.dispatch")
def dispatch(outbox_id: str) -> dict[str, object]:
    ctx = context()
    with ctx.db.read() as session:
        message = session.get(OutboxMessage, outbox_id)
        if message is None:
            raise SkippableError(f"outbox row {outbox_id} does not exist", code="outbox_missing")
        if message.dispatched_at is not None:
            return {"outcome": "already_dispatched"}
        event_type, meta = message.event_type, dict(message.context or {})
    structlog.contextvars.bind_contextvars(**{k: v for k, v in meta.items() if k == "request_id"})
    consumers = enqueue_consumers(ctx.redis, outbox_id, event_type, meta)
    _mark_dispatched(ctx, [outbox_id])
    log.info("outbox.dispatched", outbox_id=outbox_id, event_type=event_type, consumers=consumers)
    return {"outcome": "dispatched", "consumers": consumers}
