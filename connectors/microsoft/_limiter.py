"""At most N requests in flight per mailbox, across every worker process (Outlook allows 4).

Graph's Outlook limits are "evaluated for each app ID and mailbox combination": 4 concurrent
requests (PROTOCOLS E). Every process holding a slot has a lease in one Redis sorted set per
mailbox (member: a random lease id, score: when the lease expires, in Redis' own clock). Taking
a slot is one Lua script: drop expired leases, then add ours if fewer than N remain. A lease
outlives the longest request (httpx timeouts are 15 s), so a crashed worker frees its slot by
expiry; a normal one frees it in ``finally``.

Without Redis (none configured, or it is down) the limit is kept per process with a semaphore:
still correct for one worker, and never worse than no limit.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

import redis
import structlog

from hub.errors import TransientError

log = structlog.get_logger("connectors.microsoft")

DEFAULT_LIMIT: Final = 4
KEY_PREFIX: Final = "hub:microsoft:mailbox:"

_ACQUIRE: Final = """
if redis.replicate_commands then redis.replicate_commands() end
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
  return 1
end
return 0
"""


class MailboxLimiter:
    """``with limiter.slot(mailbox):`` around every Graph request for that mailbox."""

    def __init__(
        self,
        client: redis.Redis | None = None,
        *,
        limit: int = DEFAULT_LIMIT,
        lease_seconds: float = 60.0,
        wait_seconds: float = 5.0,  # per attempt; call_with_retries tries 4 times, well inside a job
        poll_seconds: float = 0.02,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.redis = client
        self.limit = limit
        self.lease_ms = int(lease_seconds * 1000)
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self._sleep = sleep
        self._script: Any = client.register_script(_ACQUIRE) if client is not None else None
        self._local: dict[str, threading.BoundedSemaphore] = {}
        self._local_lock = threading.Lock()

    @contextmanager
    def slot(self, mailbox: str) -> Iterator[None]:
        lease = self._acquire_shared(mailbox) if self._script is not None else None
        if lease is not None:
            try:
                yield
            finally:
                self._release_shared(mailbox, lease)
            return
        semaphore = self._semaphore(mailbox)
        if not semaphore.acquire(timeout=self.wait_seconds):
            raise _busy(mailbox)
        try:
            yield
        finally:
            semaphore.release()

    def _acquire_shared(self, mailbox: str) -> str | None:
        """A lease id once a slot is ours; None when Redis cannot be used (fall back locally)."""
        lease = uuid.uuid4().hex
        deadline = time.monotonic() + self.wait_seconds
        while True:
            try:
                if self._script(keys=[KEY_PREFIX + mailbox], args=[self.limit, self.lease_ms, lease]) == 1:
                    return lease
            except redis.RedisError as exc:
                log.warning("microsoft.limiter_fallback", error=type(exc).__name__)
                return None
            if time.monotonic() >= deadline:
                raise _busy(mailbox)
            self._sleep(self.poll_seconds * (0.5 + random.random()))

    def _release_shared(self, mailbox: str, lease: str) -> None:
        if self.redis is None:
            return
        try:
            self.redis.zrem(KEY_PREFIX + mailbox, lease)
        except redis.RedisError as exc:  # the lease expires on its own
            log.warning("microsoft.limiter_release_failed", error=type(exc).__name__)

    def _semaphore(self, mailbox: str) -> threading.BoundedSemaphore:
        with self._local_lock:
            semaphore = self._local.get(mailbox)
            if semaphore is None:
                semaphore = self._local[mailbox] = threading.BoundedSemaphore(self.limit)
            return semaphore


def _busy(mailbox: str) -> TransientError:
    return TransientError(
        f"Mailbox {mailbox[:8]}... already has its maximum of concurrent Graph requests",
        code="mailbox_busy",
        retry_after=1.0,
    )
