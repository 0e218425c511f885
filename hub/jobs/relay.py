"""The outbox relay: after a commit, enqueue the dispatch of the new outbox rows.

The commit hook only hands the ids to a background thread, so a request never waits on Redis:
the thread enqueues them in batches (one Redis round trip per batch). If Redis is unreachable
the bookings have already committed; the relay logs, backs off for a few seconds, and the
periodic sweeper (``hub.jobs.sweep``) dispatches the rows once Redis is back. Nothing is lost:
the outbox table, not this thread, is the record of what must be sent.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import redis
import structlog

from hub.jobs.queues import DEFAULT
from hub.jobs.runner import enqueue, job_id, propagated_context

log = structlog.get_logger("hub.outbox")

BACKOFF_SECONDS = 5.0
BATCH = 200
DISPATCH = "hub.jobs.dispatch.dispatch"

_STOP = object()


class OutboxRelay:
    def __init__(self, connection: redis.Redis) -> None:
        self.connection = connection
        self._pending: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._skip_until = 0.0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()

    def __call__(self, outbox_ids: list[str]) -> None:
        """The commit hook: never blocks, never raises."""
        self._idle.clear()
        self._pending.put((outbox_ids, propagated_context()))
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="hub-outbox-relay", daemon=True)
                    self._thread.start()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until everything handed over so far was enqueued or given up to the sweeper."""
        return self._idle.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        if self._thread is not None:
            self._pending.put(_STOP)
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            batch = [self._pending.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self._pending.get_nowait())
                except queue.Empty:
                    break
            stop = _STOP in batch
            self._send([item for item in batch if item is not _STOP])
            if self._pending.empty():
                self._idle.set()
            if stop:
                return

    def _send(self, batch: list[tuple[list[str], dict[str, Any]]]) -> None:
        count = sum(len(ids) for ids, _ in batch)
        if not count:
            return
        if time.monotonic() < self._skip_until:
            log.info(
                "outbox.relay_deferred", count=count, reason="redis recently unreachable; the sweeper will dispatch"
            )
            return
        try:
            with self.connection.pipeline() as pipe:
                for ids, meta in batch:
                    for outbox_id in ids:
                        enqueue_dispatch(self.connection, outbox_id, meta=meta, pipeline=pipe)
                pipe.execute()
        except redis.RedisError as exc:
            self._skip_until = time.monotonic() + BACKOFF_SECONDS
            log.warning("outbox.relay_failed", error=type(exc).__name__, count=count)


def enqueue_dispatch(
    connection: redis.Redis, outbox_id: str, *, meta: dict[str, Any] | None = None, pipeline: Any = None
) -> None:
    enqueue(
        connection,
        DISPATCH,
        outbox_id,
        queue_name=DEFAULT,
        id=job_id("dispatch", outbox_id),
        meta=meta,
        pipeline=pipeline,
    )
