"""Per-API-key rate limits, on servers built with a limit of 3 requests a minute that share the
test database and Redis (so the budget is shared across server processes)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import msgspec
import pytest

from hub.app import create_app
from hub.db import Database
from hub.settings import Settings
from tests.integration.helpers import assert_problem
from tests.support.servers import LiveServer
from tests.support.tenants import Tenant

LIMIT = 3


@pytest.fixture(scope="module")
def limited_servers(settings: Settings, db: Database) -> Iterator[tuple[LiveServer, LiveServer]]:
    limited = msgspec.structs.replace(settings, rate_limit_per_minute=LIMIT)
    with LiveServer(create_app(limited, database=db)) as first, LiveServer(create_app(limited, database=db)) as second:
        yield first, second


def _fresh_window() -> None:
    """Wait for a new one-minute window if the current one ends within a few seconds, so the
    requests of one test are counted in one window."""
    left = 60 - time.time() % 60
    if left < 5:
        time.sleep(left + 0.1)


def _fresh_key(tenant: Tenant) -> str:
    """A key no request has used yet (the owner key's budget is also spent by the main server)."""
    return tenant.create_key("member")


def _client(server: LiveServer, secret: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers=Tenant.auth(secret), timeout=30)


def test_fourth_request_in_a_minute_is_429(tenant: Tenant, limited_servers: tuple[LiveServer, LiveServer]) -> None:
    server, _ = limited_servers
    secret = _fresh_key(tenant)
    _fresh_window()
    with _client(server, secret) as client:
        answers = [client.get("/v1/users") for _ in range(LIMIT)]
        refused = client.get("/v1/users")
        also_refused = client.post("/v1/users", json={"name": "X", "email": "x@example.com", "timezone": "UTC"})

    assert [r.status_code for r in answers] == [200] * LIMIT
    assert [r.headers["ratelimit-limit"] for r in answers] == [str(LIMIT)] * LIMIT
    assert [r.headers["ratelimit-remaining"] for r in answers] == ["2", "1", "0"]
    for response in answers:
        assert 1 <= int(response.headers["ratelimit-reset"]) <= 60
        assert "retry-after" not in response.headers

    for response in (refused, also_refused):
        assert_problem(response, 429, "rate_limited")
        assert response.headers["ratelimit-limit"] == str(LIMIT)
        assert response.headers["ratelimit-remaining"] == "0"
        reset = int(response.headers["ratelimit-reset"])
        assert 1 <= reset <= 60
        assert int(response.headers["retry-after"]) == reset
    # The refused write did nothing.
    assert tenant.client.get("/v1/users").json()["data"] == []


def test_budgets_are_per_api_key(tenant: Tenant, limited_servers: tuple[LiveServer, LiveServer]) -> None:
    server, _ = limited_servers
    secret, other_secret = _fresh_key(tenant), _fresh_key(tenant)
    _fresh_window()
    with _client(server, secret) as mine, _client(server, other_secret) as other:
        for _ in range(LIMIT):
            assert mine.get("/v1/users").status_code == 200
        assert_problem(mine.get("/v1/users"), 429, "rate_limited")
        response = other.get("/v1/users")
        assert response.status_code == 200
        assert response.headers["ratelimit-remaining"] == str(LIMIT - 1)


def test_two_servers_share_one_budget(tenant: Tenant, limited_servers: tuple[LiveServer, LiveServer]) -> None:
    first, second = limited_servers
    secret = _fresh_key(tenant)
    _fresh_window()
    with _client(first, secret) as a, _client(second, secret) as b:
        answers = [a.get("/v1/users"), b.get("/v1/users"), a.get("/v1/users")]
        assert [r.status_code for r in answers] == [200, 200, 200]
        assert [r.headers["ratelimit-remaining"] for r in answers] == ["2", "1", "0"]
        assert_problem(b.get("/v1/users"), 429, "rate_limited")
        assert_problem(a.get("/v1/users"), 429, "rate_limited")


def test_service_endpoints_are_not_limited(tenant: Tenant, limited_servers: tuple[LiveServer, LiveServer]) -> None:
    server, _ = limited_servers
    secret = _fresh_key(tenant)
    _fresh_window()
    with _client(server, secret) as client:
        for _ in range(LIMIT + 2):
            assert client.get("/health").status_code == 200  # service endpoints need no key and have no limit
        for _ in range(LIMIT):
            assert client.get("/v1/users").status_code == 200
        assert_problem(client.get("/v1/users"), 429, "rate_limited")
    # Unauthenticated requests are refused for the key, not counted against a budget.
    with httpx.Client(base_url=server.url) as anonymous:
        assert_problem(anonymous.get("/v1/users"), 401, "unauthenticated")
