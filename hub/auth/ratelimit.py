"""Per-API-key rate limits kept in Redis, so they hold across every server process.

A fixed one-minute window per key (``INCR`` + ``EXPIRE`` in one round trip). When Redis cannot
be reached the request is let through and a warning is logged: a rate limiter must never turn
a Redis outage into an API outage (bookings keep working while Redis is down).
"""

from __future__ import annotations

import time

import msgspec
import redis
import structlog

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
    def __init__(self, client: redis.Redis, per_minute: int) -> None:
        self.client = client
        self.per_minute = per_minute

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def hit(self, key_id: str) -> RateLimitState | None:
        """Count one request for ``key_id``; ``None`` when limits are off or Redis is down."""
        if not self.enabled:
            return None
        now = time.time()
        window = int(now // 60)
        bucket = f"hub:ratelimit:{key_id}:{window}"
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.incr(bucket)
            pipe.expire(bucket, 120)
            count = int(pipe.execute()[0])
        except redis.RedisError as exc:
            log.warning("ratelimit.unavailable", error=type(exc).__name__)
            return None
        reset = max(1, int((window + 1) * 60 - now + 0.999))
        return RateLimitState(
            limit=self.per_minute,
            remaining=max(0, self.per_minute - count),
            reset_seconds=reset,
            allowed=count <= self.per_minute,
        )
