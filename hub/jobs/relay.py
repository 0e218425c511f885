"""The outbox relay: after a commit, hand each new outbox event straight to its consumers.

The commit hook only passes the events to a background thread, so a request never waits on
Redis. The thread hands each batch of events to Redis as *one* job (``hub.jobs.dispatch.fan_out``,
one round trip) and writes nothing to the database; a worker runs that job, which creates the
events' webhook deliveries, enqueues their attempts and each event's other consumer jobs
(email, calendar writes) and marks the rows dispatched. Building and saving an RQ job costs
CPU, and so does a write transaction, so the API process does one enqueue per batch and the
workers do the rest: a booking is one write transaction in the API process. If Redis is
unreachable the bookings have already committed; the relay logs, backs off for a few seconds,
and the periodic sweeper (``hub.jobs.sweep``) dispatches the rows once Redis is back. Nothing
is lost: the outbox table, not this thread, is the record of what must be sent, and every
consumer is idempotent, so a row dispatched twice sends nothing twice.

Each committed change is relayed in a span (``outbox.relay``) of the trace that committed it,
and its consumer jobs continue that trace. On shutdown the relay drains: ``close()`` (called by
the app's shutdown, and at the exit of any other process that relayed) enqueues everything
handed over before it returns.
"""

from __future__ import annotations

import atexit
import queue
import threading
import time
import weakref
from typing import Any

import redis
import structlog
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from hub.jobs.queues import DEFAULT, NOTIFY
from hub.jobs.runner import enqueue, job_id, propagated_context
from hub.observability import propagation
from hub.observability.tracing import tracer

log = structlog.get_logger("hub.outbox")

BACKOFF_SECONDS = 5.0
BATCH = 200
LINGER_SECONDS = 0.005
BUSY_LINGER_SECONDS = 0.05  # the linger while commits keep coming (the last batch left < BUSY_WITHIN ago)
BUSY_WITHIN = 0.1
DRAIN_SECONDS = 10.0  # how long shutdown waits for the relay to hand everything to Redis
DISPATCH = "hub.jobs.dispatch.dispatch"
FAN_OUT = "hub.jobs.dispatch.fan_out"

_STOP = object()
Event = tuple[str, str]  # (outbox id, event type)


class OutboxRelay:
    def __init__(self, connection: redis.Redis) -> None:
        self.connection = connection
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
                    _drain_at_exit(self)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until everything handed over so far was enqueued or left to the sweeper."""
        return self._idle.wait(timeout)

    def close(self, timeout: float = DRAIN_SECONDS) -> None:
        """Drain: enqueue everything handed over so far, then stop the thread (idempotent)."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._pending.put(_STOP)
            thread.join(timeout)
            if thread.is_alive():
                log.warning("outbox.relay_not_drained", reason="timed out; the sweeper will dispatch the rest")

    def _run(self) -> None:
        last_sent = float("-inf")
        while True:
            batch = [self._pending.get()]
            # Commits that follow within LINGER_SECONDS join the batch: under load one enqueue
            # then carries many events (its cost is per batch, here and in the worker that
            # dispatches it), and a lone commit waits 5 ms. While commits keep coming (the last
            # batch left less than BUSY_WITHIN ago) a batch stays open BUSY_LINGER_SECONDS, so
            # at tens of commits a second a batch carries a few of them rather than one.
            opened = time.monotonic()
            linger = BUSY_LINGER_SECONDS if opened - last_sent < BUSY_WITHIN else LINGER_SECONDS
            closes = opened + linger
            while len(batch) < BATCH and batch[-1] is not _STOP:
                try:
                    batch.append(self._pending.get(timeout=max(0.0, closes - time.monotonic())))
                except queue.Empty:
                    break
            stop = _STOP in batch
            self._send([item for item in batch if item is not _STOP])
            last_sent = time.monotonic()
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
        spans: list[Span] = []
        handed: list[list[Any]] = []
        for events, meta in batch:
            parent, rest = propagation.split(meta)
            span = tracer().start_span(
                "outbox.relay",
                context=propagation.extract(parent),
                kind=SpanKind.PRODUCER,
                attributes=_attributes(events),
            )
            spans.append(span)
            with trace.use_span(span, end_on_exit=False):  # the consumer jobs continue this trace
                consumer_meta = {**rest, **propagation.carrier()}
            handed += [[outbox_id, event_type, consumer_meta] for outbox_id, event_type in events]
        try:
            enqueue(self.connection, FAN_OUT, handed, queue_name=NOTIFY, id=job_id("fan_out", ids[0]))
        except redis.RedisError as exc:
            self._skip_until = time.monotonic() + BACKOFF_SECONDS
            log.warning("outbox.relay_failed", error=type(exc).__name__, count=len(ids))
            _end(spans, exc)
            return
        _end(spans, None)


def _attributes(events: list[Event]) -> dict[str, Any]:
    return {"hub.outbox.ids": [i for i, _ in events], "hub.outbox.types": [t for _, t in events]}


def _end(spans: list[Span], error: BaseException | None) -> None:
    for span in spans:
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()


def _drain_at_exit(relay: OutboxRelay) -> None:
    """Drain ``relay`` when the process exits (a worker's relay has no app shutdown to do it)."""
    ref = weakref.ref(relay)

    def drain() -> None:
        alive = ref()
        if alive is not None:
            alive.close()

    atexit.register(drain)


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
