"""Rate limits kept in Redis, so they hold across every server process.

A fixed one-minute window per subject (``INCR`` + ``EXPIRE`` in one round trip). Two uses:
requests per API key, and failed authentications per client address (``peek`` before the
attempt, ``hit`` for each failure; namespaces keep the counters apart). ``peek_and_hit`` does
a peek of one limiter and a hit of another in one round trip: the API's check of a client
address's failures and the count of its known key's request. When Redis cannot
be reached the request is let through and a warning is logged: a rate limiter must never turn
a Redis outage into an API outage (bookings keep working while Redis is down).
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
import redis
import structlog
from redis.client import Pipeline

log = structlog.get_logger("hub.ratelimit")


class RateLimitState(msgspec.Struct, frozen=True):
    limit: int
    remaining: int
    reset_seconds: int
    allowed: bool

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_seconds)
        return headers


class RateLimiter:
    def __init__(self, client: redis.Redis, per_minute: int, *, namespace: str = "ratelimit") -> None:
        self.client = client
        self.per_minute = per_minute
        self.namespace = namespace

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def hit(self, subject: str) -> RateLimitState | None:
        """Count one event for ``subject`` (an API key id, a client address); ``None`` when
        limits are off or Redis is down. ``allowed`` is false once the count exceeds the limit."""
        if not self.enabled:
            return None
        now = time.time()
        window = int(now // 60)
        try:
            pipe = self.client.pipeline(transaction=False)
            self._count(pipe, subject, window)
            count = int(pipe.execute()[0])
        except redis.RedisError as exc:
            log.warning("ratelimit.unavailable", error=type(exc).__name__, namespace=self.namespace)
            return None
        return self._hit_state(count, window, now)

    def peek(self, subject: str) -> RateLimitState | None:
        """The window's count for ``subject`` without counting; ``allowed`` is false once the
        limit is used up (the next event would exceed it). ``None`` when off or Redis is down."""
        if not self.enabled:
            return None
        now = time.time()
        window = int(now // 60)
        try:
            raw = self.client.get(self._bucket(subject, window))
        except redis.RedisError as exc:
            log.warning("ratelimit.unavailable", error=type(exc).__name__, namespace=self.namespace)
            return None
        return self._peek_state(raw, window, now)

    def _bucket(self, subject: str, window: int) -> str:
        return f"hub:{self.namespace}:{subject}:{window}"

    def _count(self, pipe: Pipeline, subject: str, window: int) -> None:
        bucket = self._bucket(subject, window)
        pipe.incr(bucket)
        pipe.expire(bucket, 120)

    def _hit_state(self, count: int, window: int, now: float) -> RateLimitState:
        return self._state(count, count <= self.per_minute, window, now)

    def _peek_state(self, raw: Any, window: int, now: float) -> RateLimitState:
        count = int(raw) if raw is not None else 0
        return self._state(count, count < self.per_minute, window, now)

    def _state(self, count: int, allowed: bool, window: int, now: float) -> RateLimitState:
        reset = max(1, int((window + 1) * 60 - now + 0.999))
        return RateLimitState(
            limit=self.per_minute,
            remaining=max(0, self.per_minute - count),
            reset_seconds=reset,
            allowed=allowed,
        )


def peek_and_hit(
    peeked: RateLimiter, peek_subject: str, counted: RateLimiter, hit_subject: str
) -> tuple[RateLimitState | None, RateLimitState | None]:
    """``peeked.peek(peek_subject)`` and ``counted.hit(hit_subject)``, in one Redis round trip
    when both limiters are on and share a client (else one call each). Both ``None`` when Redis
    is down, as each call alone would be."""
    if not (peeked.enabled and counted.enabled) or peeked.client is not counted.client:
        return peeked.peek(peek_subject), counted.hit(hit_subject)
    now = time.time()
    window = int(now // 60)
    try:
        pipe = counted.client.pipeline(transaction=False)
        pipe.get(peeked._bucket(peek_subject, window))
        counted._count(pipe, hit_subject, window)
        raw, count, _ = pipe.execute()
    except redis.RedisError as exc:
        log.warning("ratelimit.unavailable", error=type(exc).__name__, namespace=counted.namespace)
        return None, None
    return peeked._peek_state(raw, window, now), counted._hit_state(int(count), window, now)


class FailedAuthLimiter:
    """Failed authentications per client address: ``blocked`` before an attempt is checked,
    ``failed`` after one was refused. An address over its limit is refused whatever key it
    sends, before the key is looked up in the database, so a right guess cannot be told apart
    from a wrong one while blocked."""

    def __init__(self, client: redis.Redis, per_minute: int, *, namespace: str) -> None:
        self.limiter = RateLimiter(client, per_minute, namespace=namespace)

    def blocked(self, address: str) -> RateLimitState | None:
        """The state when ``address`` has used up its failures this minute, else ``None``."""
        return _if_blocked(self.limiter.peek(address))

    def blocked_and_count(
        self, address: str, limiter: RateLimiter, subject: str
    ) -> tuple[RateLimitState | None, RateLimitState | None]:
        """``blocked(address)`` and ``limiter.hit(subject)`` in one round trip: for a request
        whose key is already known, the check of its address and the count of its key's request.
        A blocked address's request is counted against the key too (its holder sent it)."""
        peeked, counted = peek_and_hit(self.limiter, address, limiter, subject)
        return _if_blocked(peeked), counted

    def failed(self, address: str) -> None:
        state = self.limiter.hit(address)
        if state is not None and state.remaining == 0:
            log.warning("auth.failures_limited", namespace=self.limiter.namespace, client_address=address)


def _if_blocked(state: RateLimitState | None) -> RateLimitState | None:
    return state if state is not None and not state.allowed else None
