"""The outbox relay: after a commit, enqueue the dispatch of the new outbox rows.

If Redis is unreachable the booking has already committed; the relay logs, backs off for a few
seconds (so a Redis outage costs requests one failed attempt, not one each), and the periodic
sweeper (``hub.jobs.sweep``) dispatches the rows once Redis is back. Nothing is lost.
"""

from __future__ import annotations

import time

import redis
import structlog

from hub.jobs.queues import DEFAULT
from hub.jobs.runner import enqueue, job_id

log = structlog.get_logger("hub.outbox")

BACKOFF_SECONDS = 5.0
DISPATCH = "hub.jobs.dispatch.dispatch"


class OutboxRelay:
    def __init__(self, connection: redis.Redis) -> None:
        self.connection = connection
        self._skip_until = 0.0

    def __call__(self, outbox_ids: list[str]) -> None:
        if time.monotonic() < self._skip_until:
            log.info("outbox.relay_deferred", count=len(outbox_ids), reason="redis recently unreachable")
            return
        try:
            for outbox_id in outbox_ids:
                enqueue_dispatch(self.connection, outbox_id)
        except redis.RedisError as exc:
            self._skip_until = time.monotonic() + BACKOFF_SECONDS
            log.warning("outbox.relay_failed", error=type(exc).__name__, count=len(outbox_ids))


def enqueue_dispatch(connection: redis.Redis, outbox_id: str) -> None:
    enqueue(connection, DISPATCH, outbox_id, queue_name=DEFAULT, id=job_id("dispatch", outbox_id))
