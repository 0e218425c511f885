"""A delivery's state in the database: claiming its next attempt and recording the outcome.

Attempt ``n`` is *claimed* before anything is sent: ``attempt_count`` becomes ``n`` and
``next_attempt_at`` becomes the end of a lease. A second job for the same attempt (a duplicate,
or an outdated scheduled job) does nothing while the claim is recorded or its lease runs; once
the lease has run out without a recorded attempt, the execution that claimed it is dead (a
killed worker) and the next job takes the attempt over. So a message is sent at most once per
attempt, and a lost job costs a delay, never the message.

Claiming and recording run on every attempt, so they are Core statements on the tables, run on
a Core connection (``Database.begin``: a session, and a statement on a mapped class, cost more
than SQLite takes to run it) and built once at import with their values bound at execution: a
claim reads the delivery, its endpoint and whether its last attempt was recorded in one locked
select and writes one update; a record locks the delivery and endpoint, updates what changed
and inserts the attempt.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

import msgspec
import structlog
from sqlalchemy import Table, bindparam, exists, insert, select, update
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


def _next(attempt_count: int, recorded: bool, lease_ends: datetime | None) -> tuple[int, bool]:
    if recorded:
        return attempt_count + 1, False
    return attempt_count, lease_ends is not None and lease_ends > utcnow()


def next_attempt(session: Session, delivery: WebhookDelivery) -> tuple[int, bool]:
    """``(number, in_flight)``: the attempt the delivery waits for, and whether a live claim holds it."""
    return _next(delivery.attempt_count, _recorded(session, delivery), delivery.next_attempt_at)


_DELIVERIES = cast(Table, WebhookDelivery.__table__)
_ENDPOINTS = cast(Table, WebhookEndpoint.__table__)
_ATTEMPTS = cast(Table, WebhookAttempt.__table__)
# What a claim reads, in one statement: the delivery (locked), its endpoint, and whether its
# latest claimed attempt was recorded.
_CLAIM_READ = (
    select(
        _DELIVERIES.c.status,
        _DELIVERIES.c.endpoint_id,
        _DELIVERIES.c.attempt_count,
        _DELIVERIES.c.next_attempt_at,
        _DELIVERIES.c.trace_id,
        _DELIVERIES.c.body,
        _DELIVERIES.c.context,
        _ENDPOINTS.c.url,
        _ENDPOINTS.c.secret_ciphertext,
        _ENDPOINTS.c.status,
        _ENDPOINTS.c.deleted_at,
        (_DELIVERIES.c.attempt_count == 0)
        | exists().where(
            _ATTEMPTS.c.delivery_id == _DELIVERIES.c.id,
            _ATTEMPTS.c.attempt_number == _DELIVERIES.c.attempt_count,
        ),
    )
    .join(_ENDPOINTS, _ENDPOINTS.c.id == _DELIVERIES.c.endpoint_id)
    .where(_DELIVERIES.c.id == bindparam("delivery_id"))
    .with_for_update(of=_DELIVERIES)
)
_TAKE = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("delivery_id"))
    .values(attempt_count=bindparam("number"), next_attempt_at=bindparam("lease_ends"), trace_id=bindparam("trace"))
)


def claim(db: Database, delivery_id: str, attempt_number: int | None, lease: timedelta) -> Claim | dict[str, object]:
    """Take attempt ``attempt_number`` (or whichever is next) of a pending delivery, or say why not."""
    with db.begin() as connection:
        row = connection.execute(_CLAIM_READ, {"delivery_id": delivery_id}).first()
        if row is None:
            raise SkippableError(f"webhook delivery {delivery_id} does not exist", code="delivery_missing")
        status, endpoint_id, attempt_count, lease_ends, trace_id, body, context = row[:7]
        url, secret_ciphertext, endpoint_status, deleted_at, recorded = row[7:]
        if status != "pending":
            return {"outcome": f"already_{status}"}
        if deleted_at is not None or endpoint_status != "enabled":
            state = "deleted" if deleted_at is not None else "disabled"
            connection.execute(
                update(_DELIVERIES)
                .where(_DELIVERIES.c.id == delivery_id)
                .values(
                    status="failed",
                    next_attempt_at=None,
                    last_error=f"webhook_endpoint_{state}: the endpoint is {state}; nothing was sent",
                )
            )
            log.info("webhook.skipped", reason=f"endpoint_{state}", endpoint_id=endpoint_id)
            return {"outcome": f"endpoint_{state}"}
        number, in_flight = _next(attempt_count, bool(recorded), lease_ends)
        if attempt_number is not None and attempt_number != number:
            return {"outcome": "stale", "attempt": attempt_number, "next_attempt": number}
        if in_flight:
            return {"outcome": "in_flight", "attempt": number}
        connection.execute(
            _TAKE,
            {
                "delivery_id": delivery_id,
                "number": number,
                "lease_ends": utcnow() + lease,
                "trace": trace_id or current_trace_id(),
            },
        )
        return Claim(
            delivery_id=delivery_id,
            endpoint_id=endpoint_id,
            number=number,
            url=url,
            secret_ciphertext=secret_ciphertext,
            body=body,
            context=dict(context or {}),
        )


def release(db: Database, claim: Claim) -> None:
    """End a claim whose job crashed before recording, so the next job may take the attempt now."""
    with db.begin() as connection:
        connection.execute(
            update(_DELIVERIES)
            .where(_DELIVERIES.c.id == claim.delivery_id, _DELIVERIES.c.attempt_count == claim.number)
            .values(next_attempt_at=utcnow())
        )


_LOCK_DELIVERY = select(_DELIVERIES.c.id).where(_DELIVERIES.c.id == bindparam("delivery_id")).with_for_update()
_LOCK_ENDPOINT = (
    select(_ENDPOINTS.c.status, _ENDPOINTS.c.failing_since, _ENDPOINTS.c.deleted_at)
    .where(_ENDPOINTS.c.id == bindparam("endpoint_id"))
    .with_for_update()
)
_OUTCOME: dict[str, Any] = {
    "status": bindparam("new_status"),
    "next_attempt_at": bindparam("next_at"),
    "last_status_code": bindparam("status_code"),
    "last_error": bindparam("error"),
}
_OUTCOME_OF_ATTEMPT = update(_DELIVERIES).where(_DELIVERIES.c.id == bindparam("delivery_id")).values(_OUTCOME)
_DELIVERED = _OUTCOME_OF_ATTEMPT.values(delivered_at=bindparam("delivered"))  # and when it arrived
_ATTEMPT_COLUMNS = (
    "delivery_id",
    "attempt_number",
    "attempted_at",
    "status_code",
    "latency_ms",
    "response_snippet",
    "error",
    "next_attempt_at",
    "trace_id",
)
_INSERT_ATTEMPT = insert(_ATTEMPTS).values({name: bindparam(name) for name in _ATTEMPT_COLUMNS})


def record(db: Database, claim: Claim, outcome: Outcome, policy: Policy) -> tuple[str, datetime | None]:
    """Store the attempt and its consequences; returns the result and when to try next.

    Results: ``succeeded``; ``retrying`` (another attempt is scheduled); ``disabled`` (this
    failure disabled the endpoint: 410 Gone, or failing for longer than the limit); ``failed``
    (no attempt left, or the endpoint is no longer enabled).
    """
    with db.begin() as connection:
        now = utcnow()
        if not db.is_sqlite:  # SQLite's write transaction already excludes every other writer
            connection.execute(_LOCK_DELIVERY, {"delivery_id": claim.delivery_id})
        endpoint = connection.execute(_LOCK_ENDPOINT, {"endpoint_id": claim.endpoint_id}).one()
        endpoint_status, failing_since, deleted_at = endpoint
        changes: dict[str, Any] = {}
        next_at: datetime | None = None
        delivered_at: datetime | None = None
        if outcome.succeeded:
            result, status, delivered_at = "succeeded", "succeeded", now
            if failing_since is not None:
                changes["failing_since"] = None
        else:
            result = "failed"
            reason = _disable_reason(failing_since, outcome, now, policy.failing_limit)
            if reason is not None and endpoint_status == "enabled":
                endpoint_status = "disabled"
                changes.update(status="disabled", disabled_reason=reason, disabled_at=now)
                result = "disabled"
                log.warning("webhook.endpoint_disabled", endpoint_id=claim.endpoint_id, reason=reason)
            if failing_since is None:
                changes["failing_since"] = now
            if endpoint_status == "enabled" and deleted_at is None and claim.number < policy.max_attempts:
                result, next_at = "retrying", now + policy.delay_after(claim.number, outcome)
            status = "pending" if next_at is not None else "failed"
        if changes:
            connection.execute(update(_ENDPOINTS).where(_ENDPOINTS.c.id == claim.endpoint_id).values(**changes))
        connection.execute(
            _OUTCOME_OF_ATTEMPT if delivered_at is None else _DELIVERED,
            {
                "delivery_id": claim.delivery_id,
                "new_status": status,
                "next_at": next_at,
                "status_code": outcome.status_code,
                "error": outcome.error,
                "delivered": delivered_at,
            },
        )
        connection.execute(
            _INSERT_ATTEMPT,
            {
                "delivery_id": claim.delivery_id,
                "attempt_number": claim.number,
                "attempted_at": now,
                "status_code": outcome.status_code,
                "latency_ms": outcome.latency_ms,
                "response_snippet": outcome.snippet,
                "error": outcome.error,
                "next_attempt_at": next_at,
                "trace_id": current_trace_id(),
            },
        )
        return result, next_at


def _disable_reason(failing_since: datetime | None, outcome: Outcome, now: datetime, limit: timedelta) -> str | None:
    if outcome.status_code == 410:
        return f"The endpoint answered 410 Gone on {now:%Y-%m-%d %H:%M} UTC, which asks senders to stop."
    if failing_since is not None and now - failing_since > limit:
        since = f"{failing_since:%Y-%m-%d %H:%M} UTC"
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
