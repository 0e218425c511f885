"""Helpers shared by the provider journey tests (Google and Microsoft): a host to link, the
connection as the API shows it, the free slots of a morning, and draining Hub's queues."""

from __future__ import annotations

import uuid
from typing import Any, Protocol

import redis
from rq.serializers import JSONSerializer

from hub.db import Database
from hub.jobs.context import JobContext
from hub.jobs.queues import queues
from hub.jobs.worker import HubWorker
from hub.settings import Settings
from tests.conftest import LiveServer, Tenant


class JourneyWorld(Protocol):
    settings: Settings
    db: Database
    redis: redis.Redis
    server: LiveServer
    tenant: Tenant


def drain_jobs(world: JourneyWorld) -> None:
    """Run Hub's queued jobs in-process until none are left (jobs scheduled for later stay
    scheduled). The server's outbox relay hands committed events to RQ from a background
    thread, so each round first waits for it to be idle."""
    context = JobContext(world.settings, world.db, world.redis)
    for _ in range(10):
        assert world.server.app.state.relay.wait_idle(10), "the outbox relay did not hand its events over"
        if not any(q.count for q in queues(world.redis)):
            return
        HubWorker(queues(world.redis), connection=world.redis, serializer=JSONSerializer, context=context).work(
            burst=True, logging_level="ERROR", with_scheduler=False
        )
    raise AssertionError("Hub's queues did not drain in ten bursts")


def host(world: JourneyWorld) -> dict[str, Any]:
    return world.tenant.create_user(email=f"host-{uuid.uuid4().hex[:6]}@example.com")


def connection(world: JourneyWorld, connection_id: str) -> dict[str, Any]:
    response = world.tenant.client.get(f"/v1/connections/{connection_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def morning_slots(world: JourneyWorld, user_id: str, day: str) -> list[str]:
    """Local start times of the free hour slots between 09:00 and 13:00 Berlin time on ``day``."""
    response = world.tenant.client.get(
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
