"""A delivery's state in the database: claiming its next attempt and recording the outcome.

Attempt ``n`` is *claimed* before anything is sent: ``attempt_count`` becomes ``n`` and
``next_attempt_at`` becomes the end of a lease. A second job for the same attempt (a duplicate,
or an outdated scheduled job) does nothing while the claim is recorded or its lease runs; once
the lease has run out without a recorded attempt, the execution that claimed it is dead (a
killed worker) and the next job takes the attempt over. So a message is sent at most once per
attempt, and a lost job costs a delay, never the message.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import msgspec
import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.clock import utcnow
from hub.db import Database
from hub.db.tables import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from hub.deliveries._send import Outcome
from hub.errors import SkippableError
from hub.observability.tracing import current_trace_id

log = structlog.get_logger("hub.webhooks")


class Claim(msgspec.Struct, frozen=True):
    """Attempt ``number`` of a delivery, taken by one job, with what it needs to send."""

    delivery_id: str
    endpoint_id: str
    number: int
    url: str
    secret_ciphertext: bytes
    body: bytes
    context: dict[str, Any]


class Policy(msgspec.Struct, frozen=True):
    """The retry rules: ``delays[i]`` is the wait after failed attempt ``i + 1``."""

    delays: tuple[timedelta, ...]
    failing_limit: timedelta
    throttling: frozenset[int]
    max_retry_after: timedelta

    @property
    def max_attempts(self) -> int:
        return len(self.delays) + 1

    def delay_after(self, number: int, outcome: Outcome) -> timedelta:
        """The wait after failed attempt ``number``: the schedule, or a longer ``Retry-After``."""
        delay = self.delays[min(number, len(self.delays)) - 1]
        if outcome.status_code in self.throttling and outcome.retry_after is not None:
            delay = max(delay, min(timedelta(seconds=outcome.retry_after), self.max_retry_after))
        return delay


def _recorded(session: Session, delivery: WebhookDelivery) -> bool:
    """Whether the delivery's latest claimed attempt has been recorded (true before the first)."""
    if delivery.attempt_count == 0:
        return True
    found = session.scalar(
        select(WebhookAttempt.id).where(
            WebhookAttempt.delivery_id == delivery.id, WebhookAttempt.attempt_number == delivery.attempt_count
        )
    )
    return found is not None


def next_attempt(session: Session, delivery: WebhookDelivery) -> tuple[int, bool]:
    """``(number, in_flight)``: the attempt the delivery waits for, and whether a live claim holds it."""
    if _recorded(session, delivery):
        return delivery.attempt_count + 1, False
    lease_ends = delivery.next_attempt_at
    return delivery.attempt_count, lease_ends is not None and lease_ends > utcnow()


def claim(db: Database, delivery_id: str, attempt_number: int | None, lease: timedelta) -> Claim | dict[str, object]:
    """Take attempt ``attempt_number`` (or whichever is next) of a pending delivery, or say why not."""
    with db.write() as session:
        delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
        if delivery is None:
            raise SkippableError(f"webhook delivery {delivery_id} does not exist", code="delivery_missing")
        if delivery.status != "pending":
            return {"outcome": f"already_{delivery.status}"}
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        assert endpoint is not None  # a foreign key
        if endpoint.deleted_at is not None or endpoint.status != "enabled":
            state = "deleted" if endpoint.deleted_at is not None else "disabled"
            delivery.status, delivery.next_attempt_at = "failed", None
            delivery.last_error = f"webhook_endpoint_{state}: the endpoint is {state}; nothing was sent"
            log.info("webhook.skipped", reason=f"endpoint_{state}", endpoint_id=endpoint.id)
            return {"outcome": f"endpoint_{state}"}
        number, in_flight = next_attempt(session, delivery)
        if attempt_number is not None and attempt_number != number:
            return {"outcome": "stale", "attempt": attempt_number, "next_attempt": number}
        if in_flight:
            return {"outcome": "in_flight", "attempt": number}
        delivery.attempt_count = number
        delivery.next_attempt_at = utcnow() + lease
        delivery.trace_id = delivery.trace_id or current_trace_id()
        return Claim(
            delivery_id=delivery.id,
            endpoint_id=endpoint.id,
            number=number,
            url=endpoint.url,
            secret_ciphertext=endpoint.secret_ciphertext,
            body=delivery.body,
            context=dict(delivery.context or {}),
        )


def release(db: Database, claim: Claim) -> None:
    """End a claim whose job crashed before recording, so the next job may take the attempt now."""
    with db.write() as session:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == claim.delivery_id, WebhookDelivery.attempt_count == claim.number)
            .values(next_attempt_at=utcnow())
        )


def record(db: Database, claim: Claim, outcome: Outcome, policy: Policy) -> tuple[str, datetime | None]:
    """Store the attempt and its consequences; returns the result and when to try next.

    Results: ``succeeded``; ``retrying`` (another attempt is scheduled); ``disabled`` (this
    failure disabled the endpoint: 410 Gone, or failing for longer than the limit); ``failed``
    (no attempt left, or the endpoint is no longer enabled).
    """
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
            reason = _disable_reason(endpoint, outcome, now, policy.failing_limit)
            if reason is not None and endpoint.status == "enabled":
                endpoint.status, endpoint.disabled_reason, endpoint.disabled_at = "disabled", reason, now
                result = "disabled"
                log.warning("webhook.endpoint_disabled", endpoint_id=endpoint.id, reason=reason)
            endpoint.failing_since = endpoint.failing_since or now
            if endpoint.status == "enabled" and endpoint.deleted_at is None and claim.number < policy.max_attempts:
                result, next_at = "retrying", now + policy.delay_after(claim.number, outcome)
            delivery.status = "pending" if next_at is not None else "failed"
        delivery.next_attempt_at = next_at
        delivery.last_status_code = outcome.status_code
        delivery.last_error = outcome.error
        session.add(
            WebhookAttempt(
                delivery_id=claim.delivery_id,
                attempt_number=claim.number,
                attempted_at=now,
                status_code=outcome.status_code,
                latency_ms=outcome.latency_ms,
                response_snippet=outcome.snippet,
                error=outcome.error,
                next_attempt_at=next_at,
                trace_id=current_trace_id(),
            )
        )
        return result, next_at


def _disable_reason(endpoint: WebhookEndpoint, outcome: Outcome, now: datetime, limit: timedelta) -> str | None:
    if outcome.status_code == 410:
        return f"The endpoint answered 410 Gone on {now:%Y-%m-%d %H:%M} UTC, which asks senders to stop."
    if endpoint.failing_since is not None and now - endpoint.failing_since > limit:
        since = f"{endpoint.failing_since:%Y-%m-%d %H:%M} UTC"
        return f"Every attempt has failed since {since}, more than {limit.days} days."
    return None


def reopen(session: Session, delivery: WebhookDelivery) -> int:
    """Make a delivery pending and due now (a manual retry); returns the attempt to enqueue."""
    number, in_flight = next_attempt(session, delivery)
    delivery.status = "pending"
    if not in_flight:
        delivery.next_attempt_at = utcnow()
    return number


def overdue(db: Database, cutoff: datetime, limit: int) -> list[tuple[str, int, dict[str, Any]]]:
    """Pending deliveries due before ``cutoff`` (their job was lost, or their claim's lease ran
    out), marked due now; returns ``(delivery id, attempt number, context)`` for each."""
    found = []
    with db.write() as session:
        rows = session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at < cutoff)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        now = utcnow()
        for delivery in rows:
            number, _in_flight = next_attempt(session, delivery)
            delivery.next_attempt_at = now
            found.append((delivery.id, number, dict(delivery.context or {})))
    return found
