"""Client webhook jobs: fan outbox events out to endpoints, deliver each message, sweep.

``fan_out_events()`` creates one delivery per enabled endpoint of an event's organization that
subscribed to its type (at most one per endpoint and event, so fanning out twice creates
nothing new; ``_fan_out``) and enqueues its first attempt. It runs inside the job that
dispatches the relay's batch of outbox events (``hub.jobs.dispatch``), so a webhook costs one
job, its delivery; ``fan_out(outbox_id)`` is the same for one event as a job of its own.
``deliver(delivery_id)`` makes the next attempt and records it; a failed attempt schedules the
following one on ``RETRY_DELAYS`` (the deliveries' own schedule, so these jobs are enqueued
without RQ retries), honouring a longer ``Retry-After`` on throttling answers. After the last
attempt the delivery is ``failed``. A ``410 Gone`` disables the endpoint at once; so does a
failing streak longer than ``FAILING_LIMIT``.

``sweep_deliveries()`` (periodic, every 30 s) enqueues every pending delivery more than
``SWEEP_GRACE`` overdue: an attempt whose job was lost (Redis was down), and an attempt whose
worker died in the middle (even by SIGKILL): its claim's lease (the job timeout plus
``LEASE_GRACE``) runs out unrecorded, and the sweep hands the attempt to the next job, which
takes it over (``_ledger``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import redis
import structlog
from prometheus_client import Counter
from rq.job import Job

from hub.clock import utcnow
from hub.crypto import DecryptionError, Keyring
from hub.db import Database
from hub.deliveries import _fan_out
from hub.deliveries import _ledger as ledger
from hub.deliveries._send import Outcome, send
from hub.errors import SkippableError
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
SWEEP_GRACE = timedelta(seconds=60)  # an attempt this overdue (or a lease this long over) has lost its job
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
    pipeline: Any = None,
) -> Job:
    """Enqueue attempt ``number`` of a delivery on the notify queue, after ``delay`` (into
    ``pipeline`` when given, which the caller executes).

    ``reason`` (``"sweep"``) keeps the job id apart from the scheduled job's.
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
        pipeline=pipeline,
    )


def fan_out_events(events: list[tuple[str, dict[str, Any]]], *, pipeline: Any) -> list[_fan_out.FannedOut]:
    """Create the deliveries of a batch of outbox events (``(outbox id, meta)``) and put their
    first attempts into ``pipeline``, which the caller executes (``hub.jobs.dispatch`` runs
    this inside its own job, in the batch the relay handed over)."""
    ctx = context()
    found = _fan_out.fan_out(ctx.db, events)
    for event in found:
        for delivery_id in event.unsent:
            enqueue_attempt(ctx.redis, delivery_id, 1, meta=event.job_meta, pipeline=pipeline)
        log.info(
            "webhook.fanned_out",
            outbox_id=event.outbox_id,
            event_type=event.event_type,
            endpoints=event.endpoints,
            created=event.created,
        )
    return found


@hub_job("webhooks.fan_out")
def fan_out(outbox_id: str) -> dict[str, object]:
    """One event's fan-out as a job of its own (jobs queued by earlier versions of Hub)."""
    ctx = context()
    with ctx.redis.pipeline() as pipe:
        found = fan_out_events([(outbox_id, {})], pipeline=pipe)
        pipe.execute()
    if not found:
        raise SkippableError(f"outbox row {outbox_id} does not exist", code="outbox_missing")
    (event,) = found
    return {
        "outcome": "fanned_out",
        "endpoints": event.endpoints,
        "created": event.created,
        "enqueued": len(event.unsent),
    }


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
        # If this process dies mid-attempt (RQ does not retry these jobs), the claim's lease runs
        # out unrecorded, and the periodic sweep enqueues the attempt again.
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
