"""Metrics read at scrape time from Redis and the database: the state of the pipeline and of
the connectors, as it is now (counters in the code say what happened; these say what is).

- ``hub_queue_jobs{queue}``: jobs waiting in each queue;
- ``hub_queue_oldest_job_age_seconds{queue}``: how long the job at the head of each queue has waited;
- ``hub_queue_scheduled_jobs{queue}``: jobs waiting for a later time (retries, delayed attempts);
- ``hub_dead_letter_jobs{queue}``: failed jobs kept in each queue's failed registry;
- ``hub_connections{provider,status}``: linked accounts by provider and health status;
- ``hub_push_channel_expiry_horizon_seconds{provider}``: seconds until the soonest active push
  channel of a provider expires (negative once one has expired unrenewed);
- ``hub_metrics_source_up{source}``: 1 when ``redis`` / ``database`` answered this scrape.

A source that does not answer costs its own series only, never the whole scrape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

import redis
import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from rq.utils import str_to_date
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from hub.clock import utcnow
from hub.connectors import CALENDAR_PROVIDERS
from hub.db import Database
from hub.db.tables import Connection, PushChannel
from hub.jobs.queues import ALL, queue

log = structlog.get_logger("hub.metrics")

CONNECTION_STATUSES = ("active", "reauth_required", "error", "revoked")


class PipelineCollector(Collector):
    """The scrape-time gauges of one app, read through that app's database and Redis client."""

    def __init__(self, db: Database, connection: redis.Redis, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.connection = connection
        self.clock = clock

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # registering must not query anything

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "hub_metrics_source_up", "Whether a source answered this scrape (1) or not (0).", labels=["source"]
        )
        for source, read in (("redis", self._queues), ("database", self._connectors)):
            try:
                families = read()
            except (redis.RedisError, SQLAlchemyError, OSError) as exc:
                log.warning("metrics.source_failed", source=source, error=type(exc).__name__)
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            yield from families
        yield up

    def _queues(self) -> list[GaugeMetricFamily]:
        now = self.clock()
        depth = GaugeMetricFamily("hub_queue_jobs", "Jobs waiting in the queue.", labels=["queue"])
        age = GaugeMetricFamily(
            "hub_queue_oldest_job_age_seconds",
            "How long the job at the head of the queue has waited (0 when the queue is empty).",
            labels=["queue"],
        )
        scheduled = GaugeMetricFamily(
            "hub_queue_scheduled_jobs", "Jobs scheduled for later (retries, delayed attempts).", labels=["queue"]
        )
        dead = GaugeMetricFamily(
            "hub_dead_letter_jobs", "Failed jobs in the queue's failed registry (the dead letters).", labels=["queue"]
        )
        queues = [queue(name, self.connection) for name in ALL]
        with self.connection.pipeline(transaction=False) as pipe:
            for q in queues:
                pipe.llen(q.key)
                pipe.lindex(q.key, 0)
                pipe.zcard(ScheduledJobRegistry(queue=q).key)  # type: ignore[no-untyped-call]
                pipe.zcount(FailedJobRegistry(queue=q).key, now.timestamp(), "+inf")  # scored by expiry
            answers = pipe.execute()
        heads = [_text(answers[i * 4 + 1]) for i in range(len(queues))]
        waiting = [head for head in heads if head]
        with self.connection.pipeline(transaction=False) as pipe:
            for head in waiting:
                pipe.hget(Job.key_for(head), "enqueued_at")
            enqueued = dict(zip(waiting, pipe.execute(), strict=True))
        for i, q in enumerate(queues):
            depth.add_metric([q.name], answers[i * 4])
            scheduled.add_metric([q.name], answers[i * 4 + 2])
            dead.add_metric([q.name], answers[i * 4 + 3])
            oldest = heads[i]
            age.add_metric([q.name], _age(enqueued.get(oldest), now) if oldest else 0.0)
        return [depth, age, scheduled, dead]

    def _connectors(self) -> list[GaugeMetricFamily]:
        now = self.clock()
        with self.db.read() as session:
            counted = session.execute(
                select(Connection.provider, Connection.status, func.count()).group_by(
                    Connection.provider, Connection.status
                )
            ).all()
            soonest = session.execute(
                select(PushChannel.provider, func.min(PushChannel.expires_at))
                .where(PushChannel.status == "active")
                .group_by(PushChannel.provider)
            ).all()
        connections = GaugeMetricFamily(
            "hub_connections", "Linked provider accounts by provider and status.", labels=["provider", "status"]
        )
        counts = {(p, s): 0 for p in CALENDAR_PROVIDERS for s in CONNECTION_STATUSES}
        counts.update({(p, s): n for p, s, n in counted})
        for (provider, status), n in sorted(counts.items()):
            connections.add_metric([provider, status], n)
        horizon = GaugeMetricFamily(
            "hub_push_channel_expiry_horizon_seconds",
            "Seconds until the provider's soonest active push channel expires (negative: expired unrenewed).",
            labels=["provider"],
        )
        for provider, expires_at in soonest:
            horizon.add_metric([provider], (expires_at - now).total_seconds())
        return [connections, horizon]


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _age(raw: bytes | str | None, now: datetime) -> float:
    if not raw:
        return 0.0
    try:
        enqueued_at = str_to_date(raw)
    except ValueError:
        return 0.0
    return max(0.0, (now - enqueued_at).total_seconds())
