"""Periodic work, scheduled by RQ's cron and run by exactly one worker at a time.

Every ``hub worker`` runs a small cron thread. Only the holder of a Redis lock (renewed every
few seconds, expiring if its holder dies) enqueues the periodic jobs, so starting more workers
never multiplies the sweeps; if the holder dies another worker takes over within
``LOCK_TTL`` seconds.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import redis
import structlog
from rq.cron import CronJob

from hub.clock import utcnow
from hub.connections import jobs as connections
from hub.deliveries import jobs as deliveries
from hub.holds import jobs as holds
from hub.jobs import sweep
from hub.jobs.queues import DEFAULT, NOTIFY, PUSH, SYNC
from hub.jobs.registry import path_of
from hub.jobs.runner import enqueue, job_id

log = structlog.get_logger("hub.cron")

LOCK_KEY = "hub:cron:leader"
LOCK_TTL = 20
TICK_SECONDS = 1.0

Entry = tuple[Callable[..., Any] | str, int, str]  # (job function or its path, interval in seconds, queue)

SCHEDULE: list[Entry] = [
    (sweep.sweep_outbox, 30, DEFAULT),
    (sweep.sweep_idempotency_keys, 3600, DEFAULT),
    (holds.sweep_holds, 60, DEFAULT),
    (deliveries.sweep_deliveries, 30, NOTIFY),
    (connections.sweep_inbox, 30, SYNC),
    (connections.renew_channels, 600, PUSH),
    (connections.sweep_quiet_calendars, 900, SYNC),
    (connections.sweep_polled_calendars, 60, SYNC),  # providers without push: every poll_every
    (connections.sweep_unlinks, 300, PUSH),
]


class CronLeader:
    """Runs the schedule while holding the leader lock."""

    def __init__(self, connection: redis.Redis, schedule: list[Entry] | None = None) -> None:
        self.connection = connection
        self.identity = uuid.uuid4().hex
        self.entries = [
            CronJob(queue_name=q, func_name=f if isinstance(f, str) else path_of(f), interval=i)
            for f, i, q in (schedule or SCHEDULE)
        ]
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="hub-cron", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)
        self._release()

    def is_leader(self) -> bool:
        """Take or renew the lock; True while this process holds it."""
        holder = self.connection.get(LOCK_KEY)
        if holder is not None and (holder.decode() if isinstance(holder, bytes) else holder) == self.identity:
            self.connection.expire(LOCK_KEY, LOCK_TTL)
            return True
        return bool(self.connection.set(LOCK_KEY, self.identity, nx=True, ex=LOCK_TTL))

    def tick(self) -> list[str]:
        """Enqueue the entries that are due; returns their function names."""
        if not self.is_leader():
            return []
        due = []
        for entry in self.entries:
            if entry.should_run():
                when = utcnow()
                name = entry.func_name.rsplit(".", 1)[-1]
                enqueue(
                    self.connection,
                    entry.func_name,
                    queue_name=entry.queue_name,
                    retry=False,
                    id=job_id("cron", name, str(int(when.timestamp()))),
                )
                entry.set_enqueue_time(when)
                due.append(entry.func_name)
        return due

    def _loop(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            try:
                self.tick()
            except redis.RedisError as exc:
                log.warning("cron.redis_unavailable", error=type(exc).__name__)

    def _release(self) -> None:
        try:
            holder = self.connection.get(LOCK_KEY)
            if holder is not None and (holder.decode() if isinstance(holder, bytes) else holder) == self.identity:
                self.connection.delete(LOCK_KEY)
        except redis.RedisError:
            pass
