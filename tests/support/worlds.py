"""Worlds: a whole Hub around one test, and the providers it talks to.

``hub_world`` is Hub's API on a live server of its own, with a private Redis (fault tests may
stop it), a ``Tenant``, and the test's settings changed as asked; its jobs run in-process
(``HubWorld.run_jobs``) or in a real ``hub worker`` (``tests.support.workers``).
``google_world`` and ``microsoft_world`` add a local stand-in for the provider's endpoints
(``tests.support.google_standin``, ``tests.support.graph_standin``) with Hub configured to
use it, and link an account the way a user's browser would; ``two_provider_world`` has both
stand-ins, for hosts with accounts of different providers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import msgspec
import pytest
import redis

import hub.http
from hub.app import create_app
from hub.db import Database, upgrade
from hub.jobs.context import JobContext
from hub.redis import connect
from hub.settings import Settings
from tests.support.google_standin import GoogleStandIn
from tests.support.graph_standin import GraphStandIn
from tests.support.servers import LiveServer, RedisServer
from tests.support.tenants import Tenant
from tests.support.workers import burst, drain_jobs

PUBLIC_URL = "https://hub.example.test"  # Hub's public name in the worlds (webhook and callback addresses)
REDIRECT = "https://app.example.com/after-link"  # where a linked user's browser is sent back to
REDIRECT_ORIGINS = ("https://app.example.com",)


@dataclass
class HubWorld:
    settings: Settings
    db: Database
    redis: redis.Redis
    redis_server: RedisServer
    server: LiveServer
    tenant: Tenant

    def run_jobs(self, max_jobs: int | None = None) -> None:
        """Drain Hub's queues in-process; with ``max_jobs``, run at most that many jobs once."""
        if max_jobs is None:
            drain_jobs(self)
        else:
            burst(self.redis, job_context=JobContext(self.settings, self.db, self.redis), max_jobs=max_jobs)

    def host(self) -> dict[str, Any]:
        return self.tenant.create_user(email=f"host-{uuid.uuid4().hex[:6]}@example.com")

    def connection(self, connection_id: str) -> dict[str, Any]:
        response = self.tenant.client.get(f"/v1/connections/{connection_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def morning_slots(self, user_id: str, day: str) -> list[str]:
        """Local start times of the free hour slots between 09:00 and 13:00 Berlin time on ``day``."""
        response = self.tenant.client.get(
            "/v1/availability",
            params={
                "user_id": user_id,
                "start": f"{day}T09:00:00",
                "end": f"{day}T13:00:00",
                "timezone": "Europe/Berlin",
                "duration_minutes": 60,
            },
        )
        assert response.status_code == 200, response.text
        return [s["local_start"][11:16] for s in response.json()["slots"]]


@contextmanager
def hub_world(settings: Settings, directory: Path, *, own_database: bool = False, **changes: Any) -> Iterator[HubWorld]:
    """Hub on a live server with a private Redis and data directory under ``directory``, and
    ``settings`` changed by ``changes``. The database is the test session's (through an engine
    of its own, so its commit hooks reach this Redis), or with ``own_database`` a new, migrated
    SQLite file: for tests that count everything in it."""
    private = RedisServer(directory / "redis").start()
    try:
        if own_database:
            changes["database_url"] = f"sqlite:///{directory / 'hub.db'}"
        local = msgspec.structs.replace(settings, redis_url=private.url, data_dir=directory / "data", **changes)
        database = Database(local.resolved_database_url)
        if own_database:
            upgrade(database)
        client = connect(private.url, socket_timeout=None)
        try:
            with LiveServer(create_app(local, database=database)) as server:
                tenant = Tenant(server.url, database)
                try:
                    yield HubWorld(local, database, client, private, server, tenant)
                finally:
                    tenant.close()
        finally:
            database.dispose()
            client.close()
    finally:
        private.stop()


# --- Google ----------------------------------------------------------------------------------


@dataclass
class GoogleWorld(HubWorld):
    google: GoogleStandIn

    def link(self, user_id: str) -> str:
        """Link a Google account to ``user_id`` as the user's browser would; the connection id."""
        started = self.tenant.client.post(
            f"/v1/users/{user_id}/connections/google/authorize", json={"redirect_uri": REDIRECT}
        )
        assert started.status_code == 200, started.text
        state = parse_qs(urlsplit(started.json()["authorization_url"]).query)["state"][0]
        back = httpx.get(f"{self.server.url}/oauth/google/callback", params={"state": state, "code": "good-code"})
        return linked_connection(back)


@contextmanager
def google_world(settings: Settings, directory: Path, **changes: Any) -> Iterator[GoogleWorld]:
    """``hub_world`` with a Google stand-in, Hub's public name ``PUBLIC_URL`` and ``REDIRECT``
    an allowed place to send a linked user back to."""
    with GoogleStandIn() as google:
        wanted = {"public_url": PUBLIC_URL, "oauth_redirect_origins": REDIRECT_ORIGINS, **google.settings()}
        with hub_world(settings, directory, **{**wanted, **changes}) as world:
            yield GoogleWorld(**_fields(world), google=google)


# --- Microsoft -------------------------------------------------------------------------------


@dataclass
class MicrosoftWorld(HubWorld):
    graph: GraphStandIn

    def authorize(self, user_id: str) -> str:
        started = self.tenant.client.post(
            f"/v1/users/{user_id}/connections/microsoft/authorize", json={"redirect_uri": REDIRECT}
        )
        assert started.status_code == 200, started.text
        return str(started.json()["authorization_url"])

    def consent(self, authorization_url: str) -> dict[str, str]:
        """The user's browser at Entra's authorize endpoint: it redirects back to Hub's callback."""
        answer = httpx.get(authorization_url, verify=self.graph.ssl_context())
        assert answer.status_code == 302, answer.text
        back = urlsplit(answer.headers["location"])
        assert f"{back.scheme}://{back.netloc}{back.path}" == f"{PUBLIC_URL}/oauth/microsoft/callback"
        return dict(parse_qsl(back.query))

    def callback(self, params: dict[str, str]) -> httpx.Response:
        """The browser following that redirect (Hub's public name is this test's live server)."""
        return httpx.get(f"{self.server.url}/oauth/microsoft/callback", params=params)

    def link(self, user_id: str) -> str:
        """Link a Microsoft account to ``user_id`` as the user's browser would; the connection id."""
        return linked_connection(self.callback(self.consent(self.authorize(user_id))))


@contextmanager
def microsoft_world(
    settings: Settings, directory: Path, monkeypatch: pytest.MonkeyPatch, **changes: Any
) -> Iterator[MicrosoftWorld]:
    """``hub_world`` with a stand-in for Entra ID and Microsoft Graph over HTTPS (Hub's HTTP
    clients trust its throw-away CA besides certifi's), which delivers what Graph sends to
    ``PUBLIC_URL`` (handshakes, notifications) to this world's server."""
    with GraphStandIn(directory / "graph") as graph:
        _trust(graph, monkeypatch)
        wanted = {"public_url": PUBLIC_URL, "oauth_redirect_origins": REDIRECT_ORIGINS, **graph.settings()}
        with hub_world(settings, directory, **{**wanted, **changes}) as world:
            graph.route_public(PUBLIC_URL, world.server.url)
            yield MicrosoftWorld(**_fields(world), graph=graph)


def _trust(graph: GraphStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hub's HTTP clients trust the stand-in's throw-away CA besides certifi's."""
    trusting = graph.trusting_context()
    monkeypatch.setattr(hub.http, "_tls_context", lambda: trusting, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(graph.ca_file))


# --- Google and Microsoft --------------------------------------------------------------------


@dataclass
class TwoProviderWorld(HubWorld):
    google: GoogleStandIn
    graph: GraphStandIn

    def link_google(self, user_id: str) -> str:
        """Link the Google stand-in's account to ``user_id``; the connection id."""
        return GoogleWorld(**_fields(self), google=self.google).link(user_id)

    def link_microsoft(self, user_id: str) -> str:
        """Link the Microsoft stand-in's account to ``user_id``; the connection id."""
        return MicrosoftWorld(**_fields(self), graph=self.graph).link(user_id)


@contextmanager
def two_provider_world(
    settings: Settings, directory: Path, monkeypatch: pytest.MonkeyPatch, **changes: Any
) -> Iterator[TwoProviderWorld]:
    """``hub_world`` with both the Google and the Microsoft stand-in (as in ``google_world`` and
    ``microsoft_world``): each stand-in serves one account, so two hosts of one world can each
    have a calendar of their own, one at Google and one at Microsoft."""
    with GoogleStandIn() as google, GraphStandIn(directory / "graph") as graph:
        _trust(graph, monkeypatch)
        wanted = {
            "public_url": PUBLIC_URL,
            "oauth_redirect_origins": REDIRECT_ORIGINS,
            **google.settings(),
            **graph.settings(),
        }
        with hub_world(settings, directory, **{**wanted, **changes}) as world:
            graph.route_public(PUBLIC_URL, world.server.url)
            yield TwoProviderWorld(**_fields(world), google=google, graph=graph)


def mailing_settings(smtp_port: int) -> dict[str, Any]:
    """Settings that send Hub's emails to a test SMTP server on ``smtp_port`` (and let client
    webhooks reach loopback receivers)."""
    return {
        "email_backend": "smtp",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "email_from": "Hub <hub@hub.example.com>",
        "webhooks_allow_private": True,
    }


def linked_connection(callback: httpx.Response) -> str:
    """The connection id in Hub's redirect back to ``REDIRECT`` after a successful link."""
    assert callback.status_code == 302, callback.text
    location = urlsplit(callback.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert "connection_id" in query, query
    return query["connection_id"][0]


def _fields(world: HubWorld) -> dict[str, Any]:
    return {name: getattr(world, name) for name in HubWorld.__dataclass_fields__}
