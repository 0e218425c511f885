"""Tracing in tests: an SDK provider with an in-memory exporter, installed once per process
(OpenTelemetry allows one provider per process), recording only while a test asks for spans.

``pipeline`` is a whole Hub around one test: the API on a live server, its own Redis, a
stand-in for Google, a webhook receiver, and Hub's jobs run in-process by an RQ burst worker.
Its database and Redis clients are built after tracing is installed, so they are traced.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec
import pytest
import redis
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rq.serializers import JSONSerializer

from hub.app import create_app
from hub.db import Database
from hub.jobs.context import JobContext
from hub.jobs.queues import queues
from hub.jobs.worker import HubWorker
from hub.observability import tracing
from hub.redis import connect
from hub.settings import Settings
from tests.conftest import LiveServer, Tenant
from tests.support.google_standin import GoogleStandIn
from tests.support.servers import RedisServer, WebhookReceiver

REDIRECT = "https://app.example.com/after-link"


class SpanRecorder(SpanProcessor):
    """Keeps finished spans in memory while ``recording`` is on."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.recording = False

    def on_end(self, span: ReadableSpan) -> None:
        if self.recording:
            self.exporter.export([span])

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def clear(self) -> None:
        self.exporter.clear()


_recorder: SpanRecorder | None = None


def recorder() -> SpanRecorder:
    """The process's recorder, installing the tracer provider on first use."""
    global _recorder
    if _recorder is None:
        provider = tracing.build_provider(environ={})
        _recorder = SpanRecorder()
        provider.add_span_processor(_recorder)
        tracing.install(provider)
    return _recorder


@pytest.fixture
def spans() -> Iterator[SpanRecorder]:
    found = recorder()
    found.clear()
    found.recording = True
    yield found
    found.recording = False
    found.clear()


@dataclass
class Pipeline:
    settings: Settings
    db: Database
    redis: redis.Redis
    google: GoogleStandIn
    receiver: WebhookReceiver
    server: LiveServer
    tenant: Tenant

    def run_jobs(self) -> None:
        """Drain Hub's queues in-process (jobs scheduled for later stay scheduled)."""
        context = JobContext(self.settings, self.db, self.redis)
        HubWorker(queues(self.redis), connection=self.redis, serializer=JSONSerializer, context=context).work(
            burst=True, logging_level="ERROR", with_scheduler=False
        )

    def host(self) -> dict[str, Any]:
        return self.tenant.create_user(email=f"host-{uuid.uuid4().hex[:6]}@example.com")

    def link_google(self, user_id: str) -> str:
        started = self.tenant.client.post(
            f"/v1/users/{user_id}/connections/google/authorize", json={"redirect_uri": REDIRECT}
        )
        assert started.status_code == 200, started.text
        state = parse_qs(urlsplit(started.json()["authorization_url"]).query)["state"][0]
        back = httpx.get(f"{self.server.url}/oauth/google/callback", params={"state": state, "code": "good-code"})
        assert back.status_code == 302, back.text
        return parse_qs(urlsplit(back.headers["location"]).query)["connection_id"][0]

    def subscribe(self, events: list[str]) -> dict[str, Any]:
        response = self.tenant.client.post("/v1/webhook-endpoints", json={"url": self.receiver.url, "events": events})
        assert response.status_code == 201, response.text
        return dict(response.json())

    def book(self, host_id: str, start: str) -> str:
        response = self.tenant.client.post(
            "/v1/bookings",
            json={
                "host_id": host_id,
                "start": start,
                "duration_minutes": 30,
                "timezone": "Europe/Berlin",
                "title": "Intro call",
                "attendees": [{"email": "guest@example.com", "name": "Guest"}],
            },
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


@pytest.fixture
def receiver_statuses() -> list[int]:
    """Statuses the webhook receiver answers with, in order (then 200)."""
    return []


@pytest.fixture
def pipeline(
    spans: SpanRecorder, settings: Settings, db: Database, tmp_path: Path, receiver_statuses: list[int]
) -> Iterator[Pipeline]:
    private = RedisServer(tmp_path / "redis").start()

    def respond(n: int) -> int:
        return receiver_statuses[n - 1] if n <= len(receiver_statuses) else 200

    with GoogleStandIn() as google, WebhookReceiver(respond) as receiver:
        env = google.env()
        local = msgspec.structs.replace(
            settings,
            redis_url=private.url,
            data_dir=tmp_path / "data",
            email_backend="file",
            public_url="https://hub.example.test",
            oauth_redirect_origins=("https://app.example.com",),  # where REDIRECT is
            google_client_id=env["HUB_GOOGLE_CLIENT_ID"],
            google_client_secret=env["HUB_GOOGLE_CLIENT_SECRET"],
            google_auth_url=env["HUB_GOOGLE_AUTH_URL"],
            google_token_url=env["HUB_GOOGLE_TOKEN_URL"],
            google_revoke_url=env["HUB_GOOGLE_REVOKE_URL"],
            google_api_url=env["HUB_GOOGLE_API_URL"],
        )
        database = Database(local.resolved_database_url)
        client = connect(private.url, socket_timeout=None)
        with LiveServer(create_app(local, database=database)) as server:
            tenant = Tenant(server.url, database)
            yield Pipeline(local, database, client, google, receiver, server, tenant)
            tenant.client.close()
        database.dispose()
        client.close()
    private.stop()
