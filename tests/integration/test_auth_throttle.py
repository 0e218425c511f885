"""Failed authentication is limited per client address, in Redis, across server processes:
30 invalid keys a minute at /v1 and 10 failed dashboard sign-ins, then 429 with Retry-After.

The servers here trust 127.0.0.1 as a reverse proxy, so each test names its own client
address in X-Forwarded-For and no test spends another's budget."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import msgspec
import pytest

from hub.app import create_app
from hub.db import Database
from hub.settings import (
    DEFAULT_AUTH_FAILURES_PER_MINUTE,
    DEFAULT_SIGN_IN_FAILURES_PER_MINUTE,
    Settings,
    SettingsError,
)
from tests.dashboard.conftest import DashboardClient
from tests.integration.helpers import assert_problem
from tests.support.servers import LiveServer
from tests.support.tenants import Tenant

WRONG_KEY = "hub_sk_" + "x" * 43


@pytest.fixture(scope="module")
def proxied(settings: Settings) -> Settings:
    return msgspec.structs.replace(
        settings,
        auth_failures_per_minute=DEFAULT_AUTH_FAILURES_PER_MINUTE,
        sign_in_failures_per_minute=DEFAULT_SIGN_IN_FAILURES_PER_MINUTE,
        trusted_proxies=("127.0.0.1",),
    )


@pytest.fixture(scope="module")
def servers(proxied: Settings, db: Database) -> Iterator[tuple[LiveServer, LiveServer]]:
    with LiveServer(create_app(proxied, database=db)) as first, LiveServer(create_app(proxied, database=db)) as second:
        yield first, second


def fresh_window(needed_seconds: float = 15) -> None:
    """Start in a new one-minute window if the current one ends too soon for the test."""
    left = 60 - time.time() % 60
    if left < needed_seconds:
        time.sleep(left + 0.1)


def an_address() -> str:
    """A client address of its own (in the documentation network), so budgets never collide."""
    part = uuid.uuid4().hex
    return f"2001:db8:{part[:4]}:{part[4:8]}::{part[8:12]}"


def api(server: LiveServer, address: str, key: str = WRONG_KEY) -> httpx.Response:
    return httpx.get(
        f"{server.url}/v1/users",
        headers={"Authorization": f"Bearer {key}", "X-Forwarded-For": address},
        timeout=30,
    )


def test_thirty_invalid_keys_a_minute_then_429_across_two_servers(
    tenant: Tenant, servers: tuple[LiveServer, LiveServer]
) -> None:
    first, second = servers
    address, neighbour = an_address(), an_address()
    fresh_window()
    answers = [api(first if i % 2 else second, address) for i in range(DEFAULT_AUTH_FAILURES_PER_MINUTE)]
    assert [r.status_code for r in answers] == [401] * DEFAULT_AUTH_FAILURES_PER_MINUTE

    for server in (first, second):
        refused = api(server, address)
        assert_problem(refused, 429, "rate_limited")
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "invalid API key" in refused.json()["detail"]
    # Blocked whatever the key: a valid key from that address is refused the same way, both
    # when the server must look it up and when it knows it (it just served it to a neighbour).
    assert_problem(api(first, address, tenant.key), 429, "rate_limited")
    assert api(second, neighbour, tenant.key).status_code == 200
    assert_problem(api(second, address, tenant.key), 429, "rate_limited")
    # Another address is not affected, and neither are valid keys from it.
    assert_problem(api(first, neighbour), 401, "unauthenticated")
    assert api(first, neighbour, tenant.key).status_code == 200


def test_valid_keys_and_missing_keys_are_not_counted(tenant: Tenant, servers: tuple[LiveServer, LiveServer]) -> None:
    server, _ = servers
    address = an_address()
    fresh_window()
    for _ in range(DEFAULT_AUTH_FAILURES_PER_MINUTE + 5):
        assert api(server, address, tenant.key).status_code == 200
    anonymous = httpx.get(f"{server.url}/v1/users", headers={"X-Forwarded-For": address}, timeout=30)
    assert_problem(anonymous, 401, "unauthenticated")
    assert_problem(api(server, address), 401, "unauthenticated")


def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(
    settings: Settings, db: Database, servers: tuple[LiveServer, LiveServer]
) -> None:
    limited = msgspec.structs.replace(settings, auth_failures_per_minute=3)
    client_side = an_address()
    fresh_window()
    with LiveServer(create_app(limited, database=db)) as untrusting:
        # No trusted proxy: every request counts for the peer (127.0.0.1), whatever the header
        # says. (Other tests' failures from 127.0.0.1 may count in this window too, so only the
        # fourth answer is certain.)
        for _ in range(3):
            assert api(untrusting, an_address()).status_code in (401, 429)
        assert_problem(api(untrusting, an_address()), 429, "rate_limited")
    trusting, _ = servers
    # Behind a trusted proxy, the right-most untrusted address is the client; what the client
    # put further left is ignored.
    for _ in range(DEFAULT_AUTH_FAILURES_PER_MINUTE):
        assert_problem(api(trusting, f"{an_address()}, {client_side}, 127.0.0.1"), 401, "unauthenticated")
    assert_problem(api(trusting, f"10.9.9.9, {client_side}"), 429, "rate_limited")
    assert_problem(api(trusting, f"{client_side}, {an_address()}"), 401, "unauthenticated")


def test_ten_failed_sign_ins_a_minute_then_a_429_page(tenant: Tenant, servers: tuple[LiveServer, LiveServer]) -> None:
    first, second = servers
    address = an_address()
    fresh_window()
    clients = [DashboardClient(server.url) for server in (first, second)]
    for client in clients:
        client.http.headers["X-Forwarded-For"] = address
    for i in range(DEFAULT_SIGN_IN_FAILURES_PER_MINUTE):
        assert clients[i % 2].sign_in(WRONG_KEY).status_code == 401
    for client in clients:
        refused = client.sign_in(WRONG_KEY)
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("text/html")
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "Too many failed sign-ins" in refused.text
        assert client.sign_in(tenant.key).status_code == 429  # the right key is refused the same way
    elsewhere = DashboardClient(first.url)
    elsewhere.http.headers["X-Forwarded-For"] = an_address()
    assert elsewhere.sign_in(tenant.key).status_code == 303
    for client in (*clients, elsewhere):
        client.close()


def test_a_redis_outage_fails_open(settings: Settings, db: Database, tenant: Tenant) -> None:
    down = msgspec.structs.replace(settings, redis_url="redis://127.0.0.1:9/0", auth_failures_per_minute=1)
    with LiveServer(create_app(down, database=db)) as server:
        for _ in range(3):
            assert_problem(api(server, an_address()), 401, "unauthenticated")


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    parsed = Settings.from_env({"HUB_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7,::1"})
    assert parsed.trusted_proxies == ("10.0.0.0/8", "192.168.1.7", "::1")
    with pytest.raises(SettingsError, match="HUB_TRUSTED_PROXIES"):
        Settings.from_env({"HUB_TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal"})
