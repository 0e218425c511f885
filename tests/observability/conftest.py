"""Tracing in tests: an SDK provider with an in-memory exporter, installed once per process
(OpenTelemetry allows one provider per process), recording only while a test asks for spans.

``pipeline`` is a whole Hub around one test (``tests.support.worlds.google_world``: the API on a
live server, its own Redis, a stand-in for Google, Hub's jobs run in-process) with a webhook
receiver. Its database and Redis clients are built after tracing is installed, so they are traced.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hub.db import Database
from hub.observability import tracing
from hub.settings import Settings
from tests.support.servers import WebhookReceiver
from tests.support.worlds import GoogleWorld, google_world


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
class Pipeline(GoogleWorld):
    """A Google world with a webhook receiver for the client's webhooks."""

    receiver: WebhookReceiver

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
    """(``db``: the session database, migrated, which the pipeline's server uses.)"""

    def respond(n: int) -> int:
        return receiver_statuses[n - 1] if n <= len(receiver_statuses) else 200

    # built after ``spans`` installed tracing, so its database and Redis clients are traced
    with WebhookReceiver(respond) as receiver, google_world(settings, tmp_path, email_backend="file") as world:
        yield Pipeline(**vars(world), receiver=receiver)
