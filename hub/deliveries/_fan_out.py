"""Fanning outbox events out to webhook endpoints: one delivery per subscribed endpoint.

``fan_out`` takes a batch of outbox events (the relay's batch, run by the dispatching job
``hub.jobs.dispatch.fan_out``, or a single event) and does for all of them together what each
would need alone: one read of the rows and of their organizations' enabled endpoints, one write
transaction that inserts the missing deliveries (due now) and finds every delivery of these
events that was never attempted, then the first attempts are enqueued in one Redis pipeline. A delivery is unique
by (endpoint, outbox event), so fanning out twice creates nothing new, and an attempt already
queued is replaced by the same job id, so a repeat sends nothing twice. The caller
(``hub.deliveries.jobs``) enqueues the first attempts after the deliveries are committed, so
a lost enqueue leaves pending deliveries that the periodic sweep (``webhooks.sweep``) enqueues.

Each event's fan-out is a span (``webhooks.fan_out``) in the trace that committed the event,
and its delivery jobs continue under it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any, cast

import msgspec
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from sqlalchemy import Table, bindparam, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hub.bookings import outbox
from hub.bookings.service import to_out
from hub.clock import utcnow
from hub.db import Database
from hub.db.tables import Booking, WebhookDelivery, WebhookEndpoint
from hub.ids import new_id
from hub.observability import propagation
from hub.observability.tracing import tracer

INTERNAL_KEYS = ("sequence", "reason", "change")  # what consumers read from a payload, never sent


class _Event(msgspec.Struct):
    type: str
    timestamp: datetime
    data: dict[str, Any]


class FannedOut(msgspec.Struct, frozen=True):
    """One event's fan-out: the endpoints subscribed, deliveries created now, and the deliveries
    whose first attempt is to be enqueued, with the meta their jobs carry (request id, and the
    fan-out span as their parent)."""

    outbox_id: str
    organization_id: str
    event_type: str
    endpoints: int
    created: int
    unsent: list[str]
    job_meta: dict[str, Any]


def fan_out(db: Database, events: Sequence[tuple[str, dict[str, Any]]]) -> list[FannedOut]:
    """Create the deliveries of ``events`` (``(outbox id, meta)``, ``meta`` holding the trace
    context to continue); one ``FannedOut`` per event whose row exists."""
    if not events:
        return []
    ids = [outbox_id for outbox_id, _ in events]
    with db.read() as session:
        messages = outbox.read(session, ids)
        endpoints = _endpoints(session, {m.organization_id for m in messages.values()})
        bodies = {m.id: _body(session, m) for m in messages.values()}
    subscribed = {
        m.id: [e for e, events_of in endpoints.get(m.organization_id, []) if m.event_type in events_of]
        for m in messages.values()
    }
    created, unsent = _insert(db, messages, subscribed, bodies)
    found = []
    for outbox_id, meta in events:
        message = messages.get(outbox_id)
        if message is None:
            continue
        todo = unsent.get(outbox_id, [])
        parent, _ = propagation.split(meta)
        span = tracer().start_span(
            "webhooks.fan_out",
            context=propagation.extract(parent),
            kind=SpanKind.INTERNAL,
            attributes={"hub.outbox.id": outbox_id, "hub.webhook.deliveries": len(todo)},
        )
        with trace.use_span(span, end_on_exit=True):  # the delivery jobs continue this span
            job_meta = {**message.meta, **propagation.carrier()}
        found.append(
            FannedOut(
                outbox_id=outbox_id,
                organization_id=message.organization_id,
                event_type=message.event_type,
                endpoints=len(subscribed[outbox_id]),
                created=created.get(outbox_id, 0),
                unsent=todo,
                job_meta=job_meta,
            )
        )
    return found


# A fan-out runs for every batch of events: its statements are Core statements on the tables,
# built once at import with their values bound at execution.
_ENDPOINTS = cast(Table, WebhookEndpoint.__table__)
_DELIVERIES = cast(Table, WebhookDelivery.__table__)
_READ_ENDPOINTS = (
    select(_ENDPOINTS.c.organization_id, _ENDPOINTS.c.id, _ENDPOINTS.c.events)
    .where(
        _ENDPOINTS.c.organization_id.in_(bindparam("organization_ids", expanding=True)),
        _ENDPOINTS.c.status == "enabled",
        _ENDPOINTS.c.deleted_at.is_(None),
    )
    .order_by(_ENDPOINTS.c.id)
)
# (endpoint_id, outbox_id) is the unique index, so this reads only these events' rows
_UNSENT = (
    select(_DELIVERIES.c.id, _DELIVERIES.c.outbox_id)
    .where(
        _DELIVERIES.c.endpoint_id.in_(bindparam("endpoint_ids", expanding=True)),
        _DELIVERIES.c.outbox_id.in_(bindparam("outbox_ids", expanding=True)),
        _DELIVERIES.c.status == "pending",
        _DELIVERIES.c.attempt_count == 0,
    )
    .order_by(_DELIVERIES.c.id)
)


@cache
def _insert_deliveries(dialect: str) -> Any:
    """The insert of new deliveries, built once per dialect: an existing (endpoint, event) is
    left alone, and the events of the rows inserted are returned."""
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return (
        insert(_DELIVERIES)
        .on_conflict_do_nothing(index_elements=["endpoint_id", "outbox_id"])
        .returning(_DELIVERIES.c.outbox_id)
    )


def _endpoints(session: Session, organization_ids: set[str]) -> dict[str, list[tuple[str, list[Any]]]]:
    """The enabled endpoints of each organization: ``(endpoint id, subscribed event types)``."""
    if not organization_ids:
        return {}
    rows = session.execute(_READ_ENDPOINTS, {"organization_ids": list(organization_ids)})
    found: dict[str, list[tuple[str, list[Any]]]] = {}
    for organization_id, endpoint_id, events in rows:
        found.setdefault(organization_id, []).append((endpoint_id, events or []))
    return found


def _body(session: Session, message: outbox.Event) -> bytes:
    return msgspec.json.encode(
        _Event(type=message.event_type, timestamp=message.created_at, data=_data(session, message))
    )


def _data(session: Session, message: outbox.Event) -> Any:
    """The event's ``data``: the payload (without the keys only Hub's consumers read), except for
    ``booking.rescheduled``, whose data is the booking as it is now (its last time,
    ``reschedule_count`` telling the versions apart), so a client that reads the deliveries of
    two quick moves never ends at the older time."""
    if message.event_type != "booking.rescheduled":
        if message.aggregate_type != "booking":
            return message.payload
        return {k: v for k, v in message.payload.items() if k not in INTERNAL_KEYS}
    booking = session.get(Booking, message.aggregate_id)
    if booking is None:
        return {k: v for k, v in message.payload.items() if k not in ("sequence", "reason")}
    return msgspec.to_builtins(to_out(booking))


def _insert(
    db: Database, messages: dict[str, outbox.Event], subscribed: dict[str, list[str]], bodies: dict[str, bytes]
) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Insert the missing deliveries (due now) in one transaction; returns how many were new per
    event, and every never-attempted delivery of these events (new or left by an earlier run)."""
    now = utcnow()
    rows = [
        {
            "id": new_id("webhook_delivery"),
            "organization_id": message.organization_id,
            "endpoint_id": endpoint_id,
            "outbox_id": message.id,
            "event_type": message.event_type,
            "body": bodies[message.id],
            "status": "pending",
            "attempt_count": 0,
            "next_attempt_at": now,
            "context": message.meta,
            "created_at": now,
        }
        for message in messages.values()
        for endpoint_id in subscribed[message.id]
    ]
    created: dict[str, int] = {}
    unsent: dict[str, list[str]] = {}
    if not rows:
        return created, unsent
    with db.begin() as connection:
        # one statement, executed for many rows (compiled once, sent in batches)
        for (outbox_id,) in connection.execute(_insert_deliveries(db.dialect), rows):  # rowcount is -1 on psycopg
            created[str(outbox_id)] = created.get(str(outbox_id), 0) + 1
        endpoint_ids = list({row["endpoint_id"] for row in rows})
        for delivery_id, outbox_id in connection.execute(
            _UNSENT, {"endpoint_ids": endpoint_ids, "outbox_ids": list(messages)}
        ):
            unsent.setdefault(str(outbox_id), []).append(delivery_id)
    return created, unsent
