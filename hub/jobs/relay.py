"""The outbox relay: after a commit, hand each new outbox event straight to its consumers.

The commit hook only passes the events to a background thread, so a request never waits on
Redis. The thread enqueues each event's consumer jobs (client webhooks, email, calendar writes)
in batches, one Redis round trip per batch, and then marks the rows dispatched. If Redis is
unreachable the bookings have already committed; the relay logs, backs off for a few seconds,
and the periodic sweeper (``hub.jobs.sweep``) dispatches the rows once Redis is back. Nothing
is lost: the outbox table, not this thread, is the record of what must be sent, and every
consumer is idempotent, so a row dispatched twice sends nothing twice.
"""

from __future__ import annotations

import queue
import threading
import time
from datetime import UTC, datetime
from typing import Any

import redis
import structlog
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from hub.db import Database
from hub.db.tables import OutboxMessage
from hub.jobs.dispatch import enqueue_consumers
from hub.jobs.queues import DEFAULT
from hub.jobs.runner import enqueue, job_id, propagated_context

log = structlog.get_logger("hub.outbox")

BACKOFF_SECONDS = 5.0
BATCH = 200
DISPATCH = "hub.jobs.dispatch.dispatch"

_STOP = object()
Event = tuple[str, str]  # (outbox id, event type)


class OutboxRelay:
    def __init__(self, connection: redis.Redis, db: Database) -> None:
        self.connection = connection
        self.db = db
        self._pending: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._skip_until = 0.0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()

    def __call__(self, events: list[Event]) -> None:
        """The commit hook: never blocks, never raises."""
        self._idle.clear()
        self._pending.put((events, propagated_context()))
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="hub-outbox-relay", daemon=True)
                    self._thread.start()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until everything handed over so far was enqueued or left to the sweeper."""
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

    def _send(self, batch: list[tuple[list[Event], dict[str, Any]]]) -> None:
        ids = [outbox_id for events, _ in batch for outbox_id, _ in events]
        if not ids:
            return
        if time.monotonic() < self._skip_until:
            log.info(
                "outbox.relay_deferred", count=len(ids), reason="redis recently unreachable; the sweeper will dispatch"
            )
            return
        try:
            with self.connection.pipeline() as pipe:
                for events, meta in batch:
                    for outbox_id, event_type in events:
                        enqueue_consumers(self.connection, outbox_id, event_type, meta, pipeline=pipe)
                pipe.execute()
        except redis.RedisError as exc:
            self._skip_until = time.monotonic() + BACKOFF_SECONDS
            log.warning("outbox.relay_failed", error=type(exc).__name__, count=len(ids))
            return
        try:
            with self.db.write() as session:
                session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(ids), OutboxMessage.dispatched_at.is_(None))
                    .values(dispatched_at=datetime.now(UTC))
                )
        except SQLAlchemyError as exc:  # the sweeper dispatches again; consumers are idempotent
            log.warning("outbox.mark_failed", error=type(exc).__name__, count=len(ids))


def enqueue_dispatch(
    connection: redis.Redis, outbox_id: str, *, meta: dict[str, Any] | None = None, pipeline: Any = None
) -> None:
    """The sweeper's path: a dispatch job that loads the row and enqueues its consumers."""
    enqueue(
        connection,
        DISPATCH,
        outbox_id,
        queue_name=DEFAULT,
        id=job_id("dispatch", outbox_id),
        meta=meta,
        pipeline=pipeline,
    )
