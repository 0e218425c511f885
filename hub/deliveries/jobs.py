"""Client webhook jobs: fan an outbox event out to endpoints, deliver each message, sweep.

``fan_out(outbox_id)`` creates one delivery per enabled endpoint of the event's organization
that subscribed to its type (at most one per endpoint and event, so fanning out twice creates
nothing new) and enqueues its first attempt. ``deliver(delivery_id)`` makes the next attempt
and records it; a failed attempt schedules the following one on ``RETRY_DELAYS`` (its own
schedule, so these jobs are enqueued without RQ retries), honouring a longer ``Retry-After``
on throttling answers. After the last attempt the delivery is ``failed``. A ``410 Gone``
disables the endpoint at once; so does a failing streak longer than ``FAILING_LIMIT``.
``sweep_deliveries()`` re-enqueues attempts whose job was lost (Redis down, a worker died).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import msgspec
import structlog
from prometheus_client import Counter
from sqlalchemy import and_, or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from hub.clock import utcnow
from hub.crypto import DecryptionError
from hub.db import Database
from hub.db.tables import OutboxMessage, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from hub.deliveries._send import Outcome, send
from hub.errors import SkippableError
from hub.ids import new_id
from hub.jobs.context import context
from hub.jobs.queues import NOTIFY
from hub.jobs.runner import enqueue, hub_job, job_id

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
ATTEMPT_TIMEOUT = 15.0  # seconds, per connect / write / read
FAILING_LIMIT = timedelta(days=5)  # an endpoint failing for longer than this is disabled
THROTTLING = frozenset({429, 502, 503, 504})  # answers whose Retry-After is honoured
MAX_RETRY_AFTER = timedelta(hours=24)
LEASE = timedelta(minutes=2)  # a claimed attempt not recorded by then is re-run by the sweep
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


class _Claim(msgspec.Struct, frozen=True):
    delivery_id: str
    endpoint_id: str
    number: int
    url: str
    secret_ciphertext: bytes
    body: bytes
    context: dict[str, Any]


def max_attempts() -> int:
    return len(RETRY_DELAYS) + 1


def enqueue_attempt(
    connection: Any, delivery_id: str, number: int, *, delay: timedelta | None = None,
    meta: dict[str, Any] | None = None, manual: bool = False,
) -> None:
    """Enqueue attempt ``number`` of a delivery on the notify queue, after ``delay``."""
    parts = ["deliver", delivery_id, str(number)] + (["retry"] if manual else [])
    enqueue(
        connection, DELIVER, delivery_id, number, queue_name=NOTIFY, id=job_id(*parts), retry=False,
        delay=delay if delay is not None and delay > timedelta(0) else None, meta=meta,
    )


@hub_job("webhooks.fan_out")
def fan_out(outbox_id: str) -> dict[str, object]:
    ctx = context()
    with ctx.db.read() as session:
        message = session.get(OutboxMessage, outbox_id)
        if message is None:
            raise SkippableError(f"outbox row {outbox_id} does not exist", code="outbox_missing")
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
    body = msgspec.json.encode(_Event(type=message.event_type, timestamp=message.created_at, data=message.payload))
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


def _insert_deliveries(
    db: Database, message: OutboxMessage, endpoint_ids: list[str], body: bytes, meta: dict[str, Any]
) -> int:
    """Insert the missing deliveries of ``message``; returns how many were new."""
    insert = postgresql_insert if db.dialect == "postgresql" else sqlite_insert
    created = 0
    with db.write() as session:
        for endpoint_id in endpoint_ids:
            statement = (
                insert(WebhookDelivery)
                .values(
                    id=new_id("webhook_delivery"), organization_id=message.organization_id,
                    endpoint_id=endpoint_id, outbox_id=message.id, event_type=message.event_type, body=body,
                    status="pending", attempt_count=0, context=meta, created_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["endpoint_id", "outbox_id"])
            )
            created += int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]
    return created


@hub_job("webhooks.deliver")
def deliver(delivery_id: str, attempt_number: int | None = None) -> dict[str, object]:
    """Make the next attempt of a pending delivery; ``attempt_number`` (given by the queue)
    makes a duplicate or outdated job do nothing."""
    ctx = context()
    structlog.contextvars.bind_contextvars(delivery_id=delivery_id)
    claim = _claim(ctx.db, delivery_id, attempt_number)
    if not isinstance(claim, _Claim):
        return claim
    structlog.contextvars.bind_contextvars(endpoint_id=claim.endpoint_id, attempt=claim.number)
    try:
        secret = ctx.keyring.decrypt(claim.secret_ciphertext, claim.endpoint_id).decode()
    except DecryptionError as exc:
        outcome = Outcome(error=f"secret_unreadable: {exc}")
    else:
        outcome = send(
            claim.url, secret, claim.delivery_id, claim.body,
            allow_private=ctx.settings.webhooks_allow_private, timeout=ATTEMPT_TIMEOUT,
        )
    result, next_at = _record(ctx.db, claim, outcome)
    DELIVERIES.labels(result).inc()
    fields = {"attempt": claim.number, "status_code": outcome.status_code, "latency_ms": outcome.latency_ms}
    if outcome.succeeded:
        log.info("webhook.delivered", **fields)
    else:
        log.warning("webhook.attempt_failed", **fields, error=outcome.error, result=result, next_attempt_at=next_at)
    if next_at is not None:
        enqueue_attempt(ctx.redis, claim.delivery_id, claim.number + 1, delay=next_at - utcnow(), meta=claim.context)
    return {"outcome": result, "attempt": claim.number, "status_code": outcome.status_code}


def _claim(db: Database, delivery_id: str, attempt_number: int | None) -> _Claim | dict[str, object]:
    """Take the next attempt number of a pending delivery (one writer at a time), or say why not."""
    with db.write() as session:
        delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
        if delivery is None:
            raise SkippableError(f"webhook delivery {delivery_id} does not exist", code="delivery_missing")
        if delivery.status != "pending":
            return {"outcome": f"already_{delivery.status}"}
        number = delivery.attempt_count + 1
        if attempt_number is not None and attempt_number != number:
            return {"outcome": "stale", "attempt": attempt_number, "next_attempt": number}
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        assert endpoint is not None  # a foreign key
        if endpoint.deleted_at is not None or endpoint.status != "enabled":
            state = "deleted" if endpoint.deleted_at is not None else "disabled"
            delivery.status, delivery.next_attempt_at = "failed", None
            delivery.last_error = f"webhook_endpoint_{state}: the endpoint is {state}; nothing was sent"
            DELIVERIES.labels("failed").inc()
            log.info("webhook.skipped", reason=f"endpoint_{state}", endpoint_id=endpoint.id)
            return {"outcome": f"endpoint_{state}"}
        delivery.attempt_count = number
        delivery.next_attempt_at = utcnow() + LEASE
        return _Claim(
            delivery_id=delivery.id, endpoint_id=endpoint.id, number=number, url=endpoint.url,
            secret_ciphertext=endpoint.secret_ciphertext, body=delivery.body, context=dict(delivery.context or {}),
        )


def _record(db: Database, claim: _Claim, outcome: Outcome) -> tuple[str, datetime | None]:
    """Store the attempt and its consequences; returns the result and when to try next."""
    with db.write() as session:
        now = utcnow()
        delivery = session.get(WebhookDelivery, claim.delivery_id, with_for_update=True)
        endpoint = session.get(WebhookEndpoint, claim.endpoint_id, with_for_update=True)
        assert delivery is not None
        assert endpoint is not None
        next_at: datetime | None = None
        if outcome.succeeded:
            result = "succeeded"
            delivery.status, delivery.delivered_at = "succeeded", now
            endpoint.failing_since = None
        else:
            result = "failed"
            reason = _disable_reason(endpoint, outcome, now)
            if reason is not None and endpoint.status == "enabled":
                endpoint.status, endpoint.disabled_reason, endpoint.disabled_at = "disabled", reason, now
                result = "disabled"
                log.warning("webhook.endpoint_disabled", endpoint_id=endpoint.id, reason=reason)
            endpoint.failing_since = endpoint.failing_since or now
            if endpoint.status == "enabled" and endpoint.deleted_at is None and claim.number < max_attempts():
                result, next_at = "retrying", now + _delay_after(claim.number, outcome)
            delivery.status = "pending" if next_at is not None else "failed"
        delivery.next_attempt_at = next_at
        delivery.last_status_code = outcome.status_code
        delivery.last_error = outcome.error
        session.add(
            WebhookAttempt(
                delivery_id=claim.delivery_id, attempt_number=claim.number, attempted_at=now,
                status_code=outcome.status_code, latency_ms=outcome.latency_ms, response_snippet=outcome.snippet,
                error=outcome.error, next_attempt_at=next_at,
            )
        )
        return result, next_at


def _disable_reason(endpoint: WebhookEndpoint, outcome: Outcome, now: datetime) -> str | None:
    if outcome.status_code == 410:
        return f"The endpoint answered 410 Gone on {now:%Y-%m-%d %H:%M} UTC, which asks senders to stop."
    if endpoint.failing_since is not None and now - endpoint.failing_since > FAILING_LIMIT:
        return (
            f"Every attempt has failed since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC, more than "
            f"{FAILING_LIMIT.days} days."
        )
    return None


def _delay_after(number: int, outcome: Outcome) -> timedelta:
    """The wait after failed attempt ``number``: the schedule, or a longer ``Retry-After``."""
    delay = RETRY_DELAYS[min(number, len(RETRY_DELAYS)) - 1]
    if outcome.status_code in THROTTLING and outcome.retry_after is not None:
        delay = max(delay, min(timedelta(seconds=outcome.retry_after), MAX_RETRY_AFTER))
    return delay


@hub_job("webhooks.sweep")
def sweep_deliveries() -> dict[str, int]:
    """Enqueue attempts that are overdue: their job was lost, or a claimed attempt never finished."""
    ctx = context()
    cutoff = utcnow() - LEASE
    with ctx.db.read() as session:
        rows = list(
            session.execute(
                select(WebhookDelivery.id, WebhookDelivery.attempt_count, WebhookDelivery.context)
                .where(
                    WebhookDelivery.status == "pending",
                    or_(
                        WebhookDelivery.next_attempt_at < cutoff,
                        and_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.created_at < cutoff),
                    ),
                )
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(SWEEP_BATCH)
            )
        )
    for delivery_id, attempt_count, meta in rows:
        enqueue_attempt(ctx.redis, delivery_id, attempt_count + 1, meta=meta)
    if rows:
        log.info("webhook.sweep_requeued", count=len(rows))
    return {"requeued": len(rows)}
