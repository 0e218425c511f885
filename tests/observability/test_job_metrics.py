"""Job metrics travel from the processes that run jobs to ``/metrics`` through Redis: each
increment is added once, and one made while Redis is away is added when it is back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from hub.jobs.runner import JOBS
from hub.observability import job_metrics
from hub.observability.job_metrics import PUBLISH_INTERVAL, VALUES_KEY, SharedJobMetrics, publish, publish_soon
from tests.support.servers import RedisServer, wait_for


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def no_publication_pending() -> None:
    """A deferred publication that an earlier test of this process left pending (a job it ran
    in-process) goes to that test's Redis and would carry this test's increments with it: it
    would mark them published, and this test's Redis would never get them."""
    wait_for(lambda: job_metrics._soon["timer"] is None, 5 * PUBLISH_INTERVAL, "an earlier deferred publication")


def shared(connection: redis.Redis, kind: str) -> float:
    field = json.dumps(["hub_jobs_total", [["kind", kind], ["outcome", "succeeded"]]], separators=(",", ":"))
    raw = connection.hget(VALUES_KEY, field)
    return float(raw) if raw is not None else 0.0


def test_each_increment_is_published_once(private_redis: RedisServer) -> None:
    connection = redis.Redis.from_url(private_redis.url)
    JOBS.labels("test.metrics_once", "succeeded").inc()
    publish(connection)
    publish(connection)
    assert shared(connection, "test.metrics_once") == 1
    JOBS.labels("test.metrics_once", "succeeded").inc(2)
    publish(connection)
    assert shared(connection, "test.metrics_once") == 3
    families = {m.name: m for m in SharedJobMetrics(connection).collect()}
    samples = [s for s in families["hub_jobs"].samples if s.labels.get("kind") == "test.metrics_once"]
    assert [(s.name, s.value) for s in samples] == [("hub_jobs_total", 3.0)]


def test_increments_made_while_redis_is_away_are_published_later(private_redis: RedisServer) -> None:
    connection = redis.Redis.from_url(private_redis.url, socket_connect_timeout=1, socket_timeout=1)
    JOBS.labels("test.metrics_outage", "succeeded").inc()
    publish(connection)
    private_redis.stop()
    JOBS.labels("test.metrics_outage", "succeeded").inc()
    publish(connection)  # Redis is down: nothing raised, nothing lost
    private_redis.start()  # an empty Redis on the same port
    JOBS.labels("test.metrics_outage", "succeeded").inc()
    publish(connection)
    assert shared(connection, "test.metrics_outage") == 2  # the two made since the last publication


def test_counts_published_soon_after_jobs_all_arrive_within_the_interval(private_redis: RedisServer) -> None:
    """After each job the worker publishes at most once per interval; what a job counted while
    a publication was recent goes out when the interval is over, once."""
    connection = redis.Redis.from_url(private_redis.url)
    for _ in range(3):
        JOBS.labels("test.metrics_soon", "succeeded").inc()
        publish_soon(connection)
    wait_for(lambda: shared(connection, "test.metrics_soon") == 3, 5 * PUBLISH_INTERVAL, "the deferred publication")
    publish_soon(connection)  # nothing new: nothing added
    assert shared(connection, "test.metrics_soon") == 3
