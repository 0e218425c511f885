"""The limiters against a real Redis: a failed-authentication peek and a key's request count
in one round trip (``peek_and_hit``), with the same states as the two calls made one by one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.connection import AbstractConnection

from hub.auth.ratelimit import FailedAuthLimiter, RateLimiter, peek_and_hit
from hub.redis import connect


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = connect(redis_url, socket_timeout=None)
    yield connection
    connection.close()


@pytest.fixture
def round_trips(client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What the client sent to Redis, one entry per round trip (after the connection's handshake)."""
    client.ping()
    sent: list[Any] = []
    original = AbstractConnection.send_packed_command

    def counting(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        sent.append(command)
        original(self, command, check_health)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    return sent


def subject() -> str:
    return uuid.uuid4().hex


def test_the_peek_and_the_hit_are_one_round_trip(client: redis.Redis, round_trips: list[Any]) -> None:
    failures, requests = RateLimiter(client, 2, namespace="test-fail"), RateLimiter(client, 3, namespace="test-req")
    address, key = subject(), subject()
    failures.hit(address)
    round_trips.clear()

    peeked, counted = peek_and_hit(failures, address, requests, key)

    assert len(round_trips) == 1  # GET, INCR and EXPIRE in one write, one read of the answers
    assert peeked is not None
    assert counted is not None
    assert (peeked.limit, peeked.remaining, peeked.allowed) == (2, 1, True)
    assert (counted.limit, counted.remaining, counted.allowed) == (3, 2, True)
    assert 1 <= counted.reset_seconds <= 60
    # The same states as the calls made one by one, and the hit was counted once.
    assert failures.peek(address) == peeked
    again = requests.peek(key)
    assert again is not None
    assert again.remaining == 2


def test_a_blocked_address_is_reported_and_the_request_still_counted(client: redis.Redis) -> None:
    failures = FailedAuthLimiter(client, 2, namespace="test-fail")
    requests = RateLimiter(client, 3, namespace="test-req")
    address, key = subject(), subject()
    assert failures.blocked_and_count(address, requests, key)[0] is None
    failures.failed(address)
    failures.failed(address)

    blocked, counted = failures.blocked_and_count(address, requests, key)

    assert blocked is not None
    assert (blocked.allowed, blocked.remaining) == (False, 0)
    assert blocked == failures.blocked(address)
    assert counted is not None
    assert counted.remaining == 1  # two requests of the key this minute


def test_a_limit_turned_off_takes_the_other_call_alone(client: redis.Redis, round_trips: list[Any]) -> None:
    off, on = RateLimiter(client, 0, namespace="test-off"), RateLimiter(client, 3, namespace="test-req")
    peeked, counted = peek_and_hit(off, subject(), on, subject())
    assert peeked is None
    assert counted is not None
    assert counted.remaining == 2
    assert len(round_trips) == 1
    round_trips.clear()
    peeked, counted = peek_and_hit(on, subject(), off, subject())
    assert peeked is not None
    assert peeked.remaining == 3
    assert counted is None
    assert len(round_trips) == 1


def test_redis_down_lets_the_request_through() -> None:
    down = redis.Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.5)
    failures, requests = RateLimiter(down, 2, namespace="test-fail"), RateLimiter(down, 3, namespace="test-req")
    assert peek_and_hit(failures, subject(), requests, subject()) == (None, None)
