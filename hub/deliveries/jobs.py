"""Client webhook jobs: fan an outbox event out to endpoints, deliver each message, sweep.

``fan_out(outbox_id)`` creates one delivery per enabled endpoint of the event's organization
that subscribed to its type (at most one per endpoint and event, so fanning out twice creates
nothing new) and enqueues its first attempt. ``deliver(delivery_id)`` makes the next attempt
and records it; a failed attempt schedules the following one on ``RETRY_DELAYS`` (the
deliveries' own schedule, so these jobs are enqueued without RQ retries), honouring a longer
``Retry-After`` on throttling answers. After the last attempt the delivery is ``failed``. A
``410 Gone`` disables the endpoint at once; so does a failing streak longer than
``FAILING_LIMIT``. A worker that dies in the middle of an attempt is covered by a watchdog job
armed for the end of the attempt's lease; ``sweep_deliveries()`` (periodic) enqueues attempts
whose job was lost altogether (Redis was down).
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

import msgspec
import redis
import structlog
from prometheus_client import Counter
from rq.job import Job
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hub.bookings.service import to_out
from hub.clock import utcnow
from hub.crypto import DecryptionError, Keyring
from hub.db import Database
from hub.db.tables import Booking, OutboxMessage, WebhookDelivery, WebhookEndpoint
from hub.deliveries import _ledger as ledger
from hub.deliveries._send import Outcome, send
from hub.errors import SkippableError
from hub.ids import new_id
from hub.jobs.context import context
from hub.jobs.queues import NOTIFY
from hub.jobs.runner import enqueue, hub_job, job_id
from hub.settings import Settings

log = structlog.get_logger("hub.webhooks")

# Delays after attempts 1..7 (the first attempt is immediate): 8 attempts over about 28 hours.
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
ATTEMPT_TIMEOUT = 15.0  # seconds, for each of connect / write / read; never over a third of the job timeout
FAILING_LIMIT = timedelta(days=5)  # an endpoint failing for longer than this is disabled
THROTTLING = frozenset({429, 502, 503, 504})  # answers whose longer Retry-After is honoured
MAX_RETRY_AFTER = timedelta(hours=24)
LEASE_GRACE = timedelta(seconds=10)  # a claim lasts the job timeout plus this
SWEEP_GRACE = timedelta(seconds=60)  # an attempt this overdue has lost its job
SWEEP_BATCH = 500
DELIVER = "hub.deliveries.jobs.deliver"

DELIVERIES = Counter(
    "hub_webhook_deliveries_total",
    "Webhook attempts by result: succeeded, retrying (another attempt is scheduled), failed "
    "(no attempt left, or the endpoint is off) or disabled (this attempt disabled the endpoint).",
    ["result"],
)
for _result in ("succeeded", "failed", "retrying", "disabled"):
    DELIVERIES.labels(_result)


class _Event(msgspec.Struct):
    type: str
    timestamp: datetime
    data: dict[str, Any]


def policy() -> ledger.Policy:
    """The retry rules as configured in this module."""
    return ledger.Policy(
        delays=RETRY_DELAYS, failing_limit=FAILING_LIMIT, throttling=THROTTLING, max_retry_after=MAX_RETRY_AFTER
    )


def max_attempts() -> int:
    return policy().max_attempts


def enqueue_attempt(
    connection: redis.Redis,
    delivery_id: str,
    number: int,
    *,
    delay: timedelta | None = None,
    meta: dict[str, Any] | None = None,
    reason: str | None = None,
) -> Job:
    """Enqueue attempt ``number`` of a delivery on the notify queue, after ``delay``.

    ``reason`` (``"retry"``, ``"sweep"``, ``"watchdog"``) keeps the job id apart from the
    scheduled job's.
    """
    parts = ["deliver", delivery_id, str(number)] + ([reason] if reason else [])
    return enqueue(
        connection,
        DELIVER,
        delivery_id,
        number,
        queue_name=NOTIFY,
        id=job_id(*parts),
        retry=False,
        delay=delay if delay is not None and delay > timedelta(0) else None,
        meta=meta,
    )


@hub_job("webhooks.fan_out")
def fan_out(outbox_id: str) -> dict[str, object]:
    ctx = context()
    with ctx.db.read() as session:
        message = session.get(OutboxMessage, outbox_id)
        if message is None:
            raise SkippableError(f"outbox row {outbox_id} does not exist", code="outbox_missing")
        data = _data(session, message)
        endpoints = list(
            session.scalars(
                select(WebhookEndpoint).where(
                    WebhookEndpoint.organization_id == message.organization_id,
                    WebhookEndpoint.status == "enabled",
                    WebhookEndpoint.deleted_at.is_(None),
                )
            )
        )
    meta = {k: v for k, v in (message.context or {}).items() if k == "request_id"}
    structlog.contextvars.bind_contextvars(outbox_id=outbox_id, organization_id=message.organization_id, **meta)
    body = msgspec.json.encode(_Event(type=message.event_type, timestamp=message.created_at, data=data))
    subscribed = [e.id for e in endpoints if message.event_type in (e.events or [])]
    created = _insert_deliveries(ctx.db, message, subscribed, body, meta)
    with ctx.db.read() as session:
        unsent = list(
            session.scalars(
                select(WebhookDelivery.id).where(
                    WebhookDelivery.outbox_id == outbox_id,
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.attempt_count == 0,
                )
            )
        )
    for delivery_id in unsent:
        enqueue_attempt(ctx.redis, delivery_id, 1, meta=meta)
    log.info("webhook.fanned_out", event_type=message.event_type, endpoints=len(subscribed), created=created)
    return {"outcome": "fanned_out", "endpoints": len(subscribed), "created": created, "enqueued": len(unsent)}


INTERNAL_KEYS = ("sequence", "reason", "change")  # what consumers read from a payload, never sent


def _data(session: Session, message: OutboxMessage) -> Any:
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


def _insert_deliveries(
    db: Database, message: OutboxMessage, endpoint_ids: list[str], body: bytes, meta: dict[str, Any]
) -> int:
    """Insert the missing deliveries of ``message`` (due now); returns how many were new."""
    insert = postgresql_insert if db.dialect == "postgresql" else sqlite_insert
    created = 0
    with db.write() as session:
        for endpoint_id in endpoint_ids:
            now = utcnow()
            statement = (
                insert(WebhookDelivery)
                .values(
                    id=new_id("webhook_delivery"),
                    organization_id=message.organization_id,
                    endpoint_id=endpoint_id,
                    outbox_id=message.id,
                    event_type=message.event_type,
                    body=body,
                    status="pending",
                    attempt_count=0,
                    next_attempt_at=now,
                    context=meta,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["endpoint_id", "outbox_id"])
                .returning(WebhookDelivery.id)
            )
            created += len(session.execute(statement).all())  # rowcount is -1 here on psycopg
    return created


@hub_job("webhooks.deliver")
def deliver(delivery_id: str, attempt_number: int | None = None) -> dict[str, object]:
    """Make the next attempt of a pending delivery; ``attempt_number`` (given by the queue)
    makes a duplicate or outdated job do nothing."""
    ctx = context()
    structlog.contextvars.bind_contextvars(delivery_id=delivery_id)
    job_timeout = _job_timeout(ctx.settings)
    lease = job_timeout + LEASE_GRACE
    claim = ledger.claim(ctx.db, delivery_id, attempt_number, lease=lease)
    if not isinstance(claim, ledger.Claim):
        if claim.get("outcome") in ("endpoint_disabled", "endpoint_deleted"):
            DELIVERIES.labels("failed").inc()
        return claim
    structlog.contextvars.bind_contextvars(endpoint_id=claim.endpoint_id, attempt=claim.number)
    try:
        # If this process dies mid-attempt (RQ does not retry these jobs), the watchdog takes the
        # attempt over when the lease has run out; once the attempt is recorded it is disarmed.
        watchdog = enqueue_attempt(
            ctx.redis,
            claim.delivery_id,
            claim.number,
            delay=lease + LEASE_GRACE,
            meta=claim.context,
            reason="watchdog",
        )
        outcome = _attempt(ctx.keyring, claim, ctx.settings, job_timeout)
        result, next_at = ledger.record(ctx.db, claim, outcome, policy())
    except Exception:
        _release_quietly(ctx.db, claim)
        raise
    DELIVERIES.labels(result).inc()
    fields = {"attempt": claim.number, "status_code": outcome.status_code, "latency_ms": outcome.latency_ms}
    if outcome.succeeded:
        log.info("webhook.delivered", **fields)
    else:
        log.warning("webhook.attempt_failed", **fields, error=outcome.error, result=result, next_attempt_at=next_at)
    if next_at is not None:
        enqueue_attempt(ctx.redis, claim.delivery_id, claim.number + 1, delay=next_at - utcnow(), meta=claim.context)
    with contextlib.suppress(redis.RedisError):
        watchdog.delete()  # left armed, it would find the attempt recorded and do nothing
    return {"outcome": result, "attempt": claim.number, "status_code": outcome.status_code}


def _attempt(keyring: Keyring, claim: ledger.Claim, settings: Settings, job_timeout: timedelta) -> Outcome:
    """Decrypt the endpoint's secret and send; a secret that no key can read is a failed attempt."""
    try:
        secret = keyring.decrypt(claim.secret_ciphertext, claim.endpoint_id).decode()
    except DecryptionError as exc:
        return Outcome(error=f"secret_unreadable: {exc}")
    timeout = min(ATTEMPT_TIMEOUT, max(1.0, job_timeout.total_seconds() / 3))
    return send(
        claim.url, secret, claim.delivery_id, claim.body, allow_private=settings.webhooks_allow_private, timeout=timeout
    )


def _job_timeout(settings: Settings) -> timedelta:
    return timedelta(seconds=max(1, settings.job_timeout_seconds))


def _release_quietly(db: Database, claim: ledger.Claim) -> None:
    try:
        ledger.release(db, claim)
    except Exception:  # noqa: BLE001 - the database may be what failed; the lease then runs out instead
        log.warning("webhook.release_failed", attempt=claim.number)


@hub_job("webhooks.sweep")
def sweep_deliveries() -> dict[str, int]:
    """Enqueue attempts that are overdue: their job was lost, or a claimed attempt never finished."""
    ctx = context()
    found = ledger.overdue(ctx.db, utcnow() - SWEEP_GRACE, SWEEP_BATCH)
    for delivery_id, number, meta in found:
        enqueue_attempt(ctx.redis, delivery_id, number, meta=meta, reason="sweep")
    if found:
        log.info("webhook.sweep_requeued", count=len(found))
    return {"requeued": len(found)}
