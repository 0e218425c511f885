"""Outbox dispatch: fan outbox events out to their consumers (client webhooks, email, and the
calendar writes of linked connectors). Each consumer is idempotent, so dispatching the same row
twice sends nothing twice.

Two ways in: ``fan_out`` takes a batch of committed events the relay handed over in one job
(``hub.jobs.relay``), and ``dispatch`` loads one row the sweeper found undispatched. Either
creates the events' webhook deliveries itself (``hub.deliveries.jobs.fan_out_events``: a few
inserts for the whole batch, and each delivery is a job of its own), enqueues every other
consumer as its own job (email, calendar writes; the job id ``<consumer>-<outbox id>`` makes a
repeat harmless), all in one Redis pipeline, and only then marks the rows dispatched. If any
step fails the job is retried (or the sweeper dispatches the rows again), and repeating a step
adds nothing: deliveries are unique per endpoint and event, queued jobs keep their ids.
"""

from __future__ import annotations

from typing import Any, cast

import redis
import structlog
from sqlalchemy import Table, bindparam, update

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


IN_PROCESS = frozenset({"webhooks"})  # consumers the dispatching job runs itself (see the module doc)


def enqueue_consumers(
    connection: redis.Redis, outbox_id: str, event_type: str, meta: dict[str, Any], *, pipeline: Any = None
) -> list[str]:
    """Enqueue the consumer jobs of one outbox event, but for those run in process (job ids make
    a repeat harmless); returns the names of all its consumers."""
    names = []
    for name, consumer in consumers_for(event_type):
        names.append(name)
        if name in IN_PROCESS:
            continue
        enqueue(
            connection,
            consumer.function,
            outbox_id,
            queue_name=consumer.queue,
            id=job_id(name, outbox_id),
            meta=meta,
            pipeline=pipeline,
        )
    return names


def _dispatch(ctx: JobContext, events: list[list[Any]]) -> list[list[str]]:
    """Create the webhook deliveries of ``events`` (``[outbox id, event type, meta]``) and
    enqueue their first attempts and every other consumer job in one pipeline; returns each
    event's consumer names."""
    webhooks = [(outbox_id, meta) for outbox_id, event_type, meta in events if _has_webhooks(event_type)]
    with ctx.redis.pipeline() as pipe:
        deliveries.fan_out_events(webhooks, pipeline=pipe)
        names = [
            enqueue_consumers(ctx.redis, outbox_id, event_type, meta, pipeline=pipe)
            for outbox_id, event_type, meta in events
        ]
        pipe.execute()
    return names


def _has_webhooks(event_type: str) -> bool:
    return any(name == "webhooks" for name, _ in consumers_for(event_type))


@hub_job("outbox.fan_out")
def fan_out(events: list[list[Any]]) -> dict[str, object]:
    """Dispatch the relay's batch: ``[outbox id, event type, meta]`` each, ``meta`` being what
    the consumer jobs carry (the request id, the relay span's context)."""
    ctx = context()
    _dispatch(ctx, events)
    _mark_dispatched(ctx, [outbox_id for outbox_id, _, _ in events])
    return {"outcome": "fanned_out", "events": len(events)}


_OUTBOX = cast(Table, OutboxMessage.__table__)
_MARK_DISPATCHED = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)), _OUTBOX.c.dispatched_at.is_(None))
    .values(dispatched_at=bindparam("now"))
)


def _mark_dispatched(ctx: JobContext, ids: list[str]) -> None:
    """Once the consumers are queued the sweeper may leave the rows alone. (If this write
    fails the job is retried; enqueueing the consumers again adds nothing: their job ids.)"""
    with ctx.db.begin() as connection:
        connection.execute(_MARK_DISPATCHED, {"ids": ids, "now": utcnow()})


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
    (consumers,) = _dispatch(ctx, [[outbox_id, event_type, meta]])
    _mark_dispatched(ctx, [outbox_id])
    log.info("outbox.dispatched", outbox_id=outbox_id, event_type=event_type, consumers=consumers)
    return {"outcome": "dispatched", "consumers": consumers}
