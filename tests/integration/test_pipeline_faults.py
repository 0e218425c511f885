"""The pipeline with real processes: a real ``hub worker``, its own Redis, a webhook receiver.

These tests start and stop their own Redis server (never a shared one), and their own worker.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook

from hub.app import create_app
from hub.db import Database
from hub.db.tables import EmailSend, WebhookDelivery
from hub.settings import Settings
from tests.support.servers import Gate, LiveServer, RedisServer, WebhookReceiver, wait_for
from tests.support.tenants import Tenant
from tests.support.workers import WorkerProcess, hub_env

pytestmark = pytest.mark.slow

MONDAY = "2030-12-02"


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def pipeline_settings(settings: Settings, private_redis: RedisServer, tmp_path: Path) -> Settings:
    return msgspec.structs.replace(
        settings, redis_url=private_redis.url, data_dir=tmp_path / "data", email_backend="file", job_timeout_seconds=8
    )


@pytest.fixture
def pipeline_db(pipeline_settings: Settings, db: Database) -> Iterator[Database]:
    # Its own engine, so its commit hook sends to this test's Redis, not the session's.
    database = Database(pipeline_settings.resolved_database_url)
    yield database
    database.dispose()


def book(tenant: Tenant, host_id: str, hour: int) -> str:
    response = tenant.client.post(
        "/v1/bookings",
        json={
            "host_id": host_id,
            "start": f"{MONDAY}T{hour:02d}:00:00",
            "duration_minutes": 30,
            "timezone": "Europe/Berlin",
            "attendees": [{"email": "guest@example.com", "name": "Guest"}],
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def counts(db: Database, booking_ids: list[str]) -> tuple[int, int]:
    with db.read() as session:
        emails = session.scalar(
            select(func.count())
            .select_from(EmailSend)
            .where(EmailSend.booking_id.in_(booking_ids), EmailSend.status == "sent")
        )
        deliveries = session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.status == "succeeded", WebhookDelivery.body.is_not(None))
        )
    return int(emails or 0), int(deliveries or 0)


def test_bookings_succeed_while_redis_is_down_and_notify_once_it_is_back(
    pipeline_settings: Settings, pipeline_db: Database, private_redis: RedisServer, tmp_path: Path
) -> None:
    with LiveServer(create_app(pipeline_settings, database=pipeline_db)) as server, WebhookReceiver() as receiver:
        tenant = Tenant(server.url, pipeline_db)
        host = tenant.create_user(email=f"host-{uuid.uuid4().hex[:6]}@example.com")
        endpoint = tenant.client.post(
            "/v1/webhook-endpoints", json={"url": receiver.url, "events": ["booking.created"]}
        )
        assert endpoint.status_code == 201, endpoint.text

        private_redis.stop()
        booking_ids = [book(tenant, host["id"], hour) for hour in (9, 10, 11)]  # all 201 without Redis
        private_redis.start()

        worker = WorkerProcess(hub_env(pipeline_settings), tmp_path / "worker.log").start()
        try:
            # the cron sweep finds the undispatched outbox rows; each booking mails guest + host
            wait_for(
                lambda: len(set(receiver.ids())) >= 3 and counts(pipeline_db, booking_ids)[0] >= 6,
                90,
                "notifications after Redis came back",
            )
        finally:
            worker.kill(signal.SIGTERM)
        assert sorted(receiver.ids()) == sorted(set(receiver.ids()))  # each webhook exactly once
        assert len(receiver.ids()) == 3
        secret = endpoint.json()["secret"]
        for request in receiver.requests:
            Webhook(secret).verify(request["body"], request["headers"])
        assert counts(pipeline_db, booking_ids)[0] == 6
        mails = [
            p
            for p in (pipeline_settings.data_dir / "mail").glob("*.eml")
            if any(b in p.read_text() for b in booking_ids)
        ]
        assert len(mails) == 6  # the file backend wrote exactly one .eml per recipient and booking
        tenant.client.close()


def test_a_worker_killed_mid_job_is_replaced_and_nothing_is_sent_twice(
    pipeline_settings: Settings, pipeline_db: Database, tmp_path: Path
) -> None:
    with (
        LiveServer(create_app(pipeline_settings, database=pipeline_db)) as server,
        WebhookReceiver() as receiver,
        Gate(int(receiver.url.split(":")[2].split("/")[0]), hold=1) as gate,
    ):
        tenant = Tenant(server.url, pipeline_db)
        host = tenant.create_user(email=f"host-{uuid.uuid4().hex[:6]}@example.com")
        url = f"http://127.0.0.1:{gate.port}/hook"
        assert (
            tenant.client.post("/v1/webhook-endpoints", json={"url": url, "events": ["booking.created"]}).status_code
            == 201
        )

        first = WorkerProcess(hub_env(pipeline_settings), tmp_path / "worker1.log").start()
        booking_id = book(tenant, host["id"], 9)
        assert gate.held.wait(60), "the worker never called the webhook receiver"
        first.kill(signal.SIGKILL)  # in the middle of the delivery job

        second = WorkerProcess(hub_env(pipeline_settings), tmp_path / "worker2.log").start()
        try:
            wait_for(
                lambda: len(receiver.ids()) >= 1 and counts(pipeline_db, [booking_id])[0] >= 2,
                180,
                "the abandoned job to run again",
            )
        finally:
            second.kill(signal.SIGTERM)
        assert len(receiver.ids()) == 1
        assert counts(pipeline_db, [booking_id])[0] == 2
        tenant.client.close()
