"""Exactly one cron leader, however many workers run."""

from __future__ import annotations

import uuid

import pytest
import redis

from hub.jobs.cron import LOCK_KEY, CronLeader
from hub.jobs.queues import DEFAULT, queue
from hub.redis import connect
from hub.settings import Settings


@pytest.fixture
def connection(settings: Settings) -> redis.Redis:
    client = connect(settings.redis_url or "")
    client.delete(LOCK_KEY)
    return client


def test_only_the_leader_enqueues_and_a_successor_takes_over(connection: redis.Redis) -> None:
    name = f"tests.support.jobs.noop_{uuid.uuid4().hex[:8]}"
    schedule = [(name, 3600, DEFAULT)]
    first, second = CronLeader(connection, schedule), CronLeader(connection, schedule)
    before = len(queue(DEFAULT, connection))

    assert first.tick() == [name]
    assert second.tick() == []  # not the leader: enqueues nothing
    assert first.tick() == []  # leader, but nothing is due again within the hour
    assert len(queue(DEFAULT, connection)) == before + 1

    first.stop()  # releases the lock (a dead leader's lock expires instead)
    assert second.tick() == [name]
    assert connection.get(LOCK_KEY) == second.identity.encode()
    second.stop()
