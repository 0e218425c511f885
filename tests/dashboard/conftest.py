"""Dashboard fixtures: browser-like HTTP clients (cookies, CSRF tokens from the pages) signed in
to the live server with an owner or a support key, and a second live server with Google
configured and emails written to files, for the relink journey."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import redis
from rq.job import Job
from rq.registry import FailedJobRegistry

from hub.app import create_app
from hub.db import Database
from hub.jobs.queues import DEFAULT, queue
from hub.jobs.runner import enqueue
from hub.settings import Settings
from tests.support.servers import LiveServer
from tests.support.tenants import Tenant
from tests.support.workers import burst, job_context

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class DashboardClient:
    """Talks to the dashboard like a browser would: keeps cookies and the page's CSRF token."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)
        self.token: str | None = None

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        response = self.http.get(path, **kwargs)
        found = CSRF.search(response.text) if "text/html" in response.headers.get("content-type", "") else None
        if found:
            self.token = found.group(1)
        return response

    def sign_in(self, key: str, next_path: str = "/dashboard") -> httpx.Response:
        self.get("/dashboard/sign-in")
        return self.http.post(
            "/dashboard/sign-in", data={"api_key": key, "csrf_token": self.token or "", "next": next_path}
        )

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: str | None = None) -> httpx.Response:
        """POST a form with the current page's CSRF token (or ``csrf`` instead, to test refusals)."""
        if self.token is None:
            self.get("/dashboard")
        body = dict(data or {})
        body["csrf_token"] = self.token if csrf is None else csrf
        return self.http.post(path, data=body)

    def follow(self, response: httpx.Response) -> httpx.Response:
        assert response.status_code in (302, 303), response.text
        return self.get(response.headers["location"])


def signed_in(base_url: str, key: str) -> DashboardClient:
    client = DashboardClient(base_url)
    response = client.sign_in(key)
    assert response.status_code == 303, response.text
    return client


@pytest.fixture
def connection(settings: Settings, db: Database) -> Iterator[redis.Redis]:
    """A Redis client, installed with the test settings as the job context of this process."""
    with job_context(settings, db) as client:
        yield client


def run_default_queue(connection: redis.Redis) -> None:
    burst(connection, [DEFAULT])


def dead_letter(connection: redis.Redis, *args: str) -> Job:
    """A job that crashed with retries off: it sits in the failed registry (the dead letters)."""
    job = enqueue(connection, "tests.support.jobs.crash", *args, id=f"dash-{uuid.uuid4().hex}", retry=False)
    run_default_queue(connection)
    assert job.id in FailedJobRegistry(queue=queue(DEFAULT, connection)).get_job_ids()
    return job


@pytest.fixture
def owner(tenant: Tenant) -> Iterator[DashboardClient]:
    client = signed_in(tenant.base_url, tenant.key)
    yield client
    client.close()


@pytest.fixture
def support(tenant: Tenant) -> Iterator[DashboardClient]:
    client = signed_in(tenant.base_url, tenant.create_key("support"))
    yield client
    client.close()


@pytest.fixture
def host(tenant: Tenant) -> dict[str, Any]:
    return tenant.create_user(name="Ada Host", email="ada.host@example.com")


@pytest.fixture(scope="session")
def linking_settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The test settings plus a configured Google client; emails go to ``data_dir/mail``."""
    data_dir: Path = tmp_path_factory.mktemp("hub-linking")
    return msgspec.structs.replace(
        settings,
        data_dir=data_dir,
        google_client_id="dashboard-test-client",
        google_client_secret="s3cret",
        email_backend="file",
    )


class _Deferred:
    """An ASGI app set after the server picked its port (the app's public URL names that port)."""

    app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@pytest.fixture(scope="session")
def linking_server(linking_settings: Settings, db: Database) -> Iterator[LiveServer]:
    deferred = _Deferred()
    server = LiveServer(deferred)
    deferred.app = create_app(msgspec.structs.replace(linking_settings, public_url=server.url), database=db)
    with server:
        yield server
