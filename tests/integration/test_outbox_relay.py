"""The outbox relay's hand-off: committed events reach Redis as one fan-out job per batch, each
event exactly once, and the fan-out creates each webhook delivery and enqueues each consumer
job once however often it runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from rq.serializers import JSONSerializer
from sqlalchemy import select

from hub.auth.service import bootstrap_key
from hub.bookings.outbox import emit
from hub.clock import utcnow
from hub.db import Database
from hub.db.tables import OutboxMessage, WebhookDelivery, WebhookEndpoint
from hub.ids import new_id
from hub.jobs.context import JobContext, context, running
from hub.jobs.dispatch import fan_out
from hub.jobs.queues import NOTIFY, queue, queues
from hub.jobs.relay import FAN_OUT, OutboxRelay
from hub.jobs.worker import HubWorker
from hub.settings import Settings
from tests.support.servers import RedisServer


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[redis.Redis]:
    server = RedisServer(tmp_path / "redis").start()
    client = redis.Redis.from_url(server.url)
    yield client
    client.close()
    server.stop()


@pytest.fixture
def relayed_db(settings: Settings, db: Database, private_redis: redis.Redis) -> Iterator[tuple[Database, OutboxRelay]]:
    database = Database(settings.resolved_database_url)  # its own commit hook, to this test's Redis
    relay = OutboxRelay(private_redis)
    database.set_commit_hook("outbox", relay)
    with running(JobContext(settings, database, private_redis)):
        yield database, relay
    relay.close()
    database.dispose()


def _commit_events(db: Database, organization_id: str, count: int) -> list[str]:
    with db.write() as session:
        return [
            emit(
                session,
                organization_id=organization_id,
                event_type="booking.created",
                aggregate_type="booking",
                aggregate_id=f"bkg_{uuid.uuid4().hex[:26]}",
                payload={"n": n},
            )
            for n in range(count)
        ]


def _endpoint(db: Database, organization_id: str) -> str:
    with db.write() as session:
        endpoint = WebhookEndpoint(
            id=new_id("webhook_endpoint"),
            organization_id=organization_id,
            url="https://hooks.example.com/hub",
            events=["booking.created"],
            secret_ciphertext=b"unused here",
            status="enabled",
            created_at=utcnow(),
        )
        session.add(endpoint)
        return endpoint.id


def _deliveries(db: Database, ids: list[str]) -> dict[str, str]:
    """Delivery id -> outbox id, for the deliveries of ``ids``."""
    with db.read() as session:
        rows = session.execute(
            select(WebhookDelivery.id, WebhookDelivery.outbox_id).where(WebhookDelivery.outbox_id.in_(ids))
        )
        return {delivery_id: str(outbox_id) for delivery_id, outbox_id in rows}


def _pending(db: Database) -> set[str]:
    with db.read() as session:
        return set(session.scalars(select(OutboxMessage.id).where(OutboxMessage.dispatched_at.is_(None))))


def _queued(connection: redis.Redis, name: str) -> list[Any]:
    return list(queue(name, connection).get_jobs())


def test_each_committed_event_is_handed_over_once_and_fanned_out_once(
    relayed_db: tuple[Database, OutboxRelay], private_redis: redis.Redis
) -> None:
    db, relay = relayed_db
    organization_id, _ = bootstrap_key(db, f"org-{uuid.uuid4().hex[:12]}", role="owner")
    _endpoint(db, organization_id)
    ids = _commit_events(db, organization_id, 3) + _commit_events(db, organization_id, 2)
    assert relay.wait_idle(10)

    # Redis holds only the relay's fan-out jobs; together they carry every event exactly once
    handed = _queued(private_redis, NOTIFY)
    assert {job.func_name for job in handed} == {FAN_OUT}
    assert 1 <= len(handed) <= 2  # one per batch: a batch holds one commit or more
    carried = [event[0] for job in handed for event in job.args[0]]
    assert sorted(carried) == sorted(ids)
    assert all(event[1] == "booking.created" for job in handed for event in job.args[0])
    assert _pending(db) >= set(ids)  # the API process wrote nothing: the worker marks them

    # running the hand-off creates each event's webhook delivery (the endpoint subscribed) and
    # enqueues its first attempt and each other consumer of each event, once
    worker = HubWorker(queues(private_redis), connection=private_redis, serializer=JSONSerializer, context=context())
    worker.work(burst=True, logging_level="ERROR", with_scheduler=False, max_jobs=len(handed))
    deliveries = _deliveries(db, ids)
    assert sorted(deliveries.values()) == sorted(ids)
    consumers = sorted(job.id for name in (NOTIFY, "sync") for job in _queued(private_redis, name))
    expected = sorted(
        [f"{name}-{outbox_id}" for outbox_id in ids for name in ("calendar", "email")]
        + [f"deliver-{delivery_id}-1" for delivery_id in deliveries]
    )
    assert consumers == expected
    assert _pending(db).isdisjoint(ids)  # marked dispatched: the sweeper leaves them alone

    # a repeated hand-off (the same batch run again) adds no delivery and no job
    assert fan_out(handed[0].args[0])["outcome"] == "fanned_out"
    assert _deliveries(db, ids) == deliveries
    again = sorted({job.id for name in (NOTIFY, "sync") for job in _queued(private_redis, name)})
    assert again == expected
