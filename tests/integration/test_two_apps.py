"""Two Hubs in one process share nothing but what they are given: each app built by
``create_app`` keeps its own settings, keyring, Redis, rate limits and outbox relay, and each
worker runs its jobs in its own context with its own job timeout."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
import redis
from rq.serializers import JSONSerializer
from sqlalchemy import select

from hub.app import create_app
from hub.auth.service import bootstrap_key
from hub.crypto import DecryptionError, keyring_for
from hub.db import Database
from hub.db.tables import IdempotencyKey, WebhookEndpoint
from hub.idempotency import associated_data
from hub.jobs.context import JobContext, NoJobContext, context
from hub.jobs.queues import DEFAULT, queue, queues
from hub.jobs.runner import enqueue
from hub.jobs.worker import HubWorker
from hub.settings import Settings
from tests.integration.helpers import MONDAY, booking, create_booking
from tests.support.servers import LiveServer


class Hub(msgspec.Struct):
    settings: Settings
    server: LiveServer

    @property
    def redis(self) -> redis.Redis:
        client: redis.Redis = self.server.app.state.redis
        return client

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def hub_settings(settings: Settings, data_dir: Path, secret: str, rate_limit: int, job_timeout: int) -> Settings:
    """Settings of one Hub: the shared database, but its own data directory (so its own
    embedded Redis), secret key, rate limit and job timeout."""
    return msgspec.structs.replace(
        settings,
        data_dir=data_dir,
        redis_url=None,
        secret_keys=(secret,),
        rate_limit_per_minute=rate_limit,
        job_timeout_seconds=job_timeout,
    )


@pytest.fixture
def hubs(settings: Settings, tmp_path: Path) -> Iterator[tuple[Hub, Hub]]:
    first = hub_settings(settings, tmp_path / "a", "first-hub-secret-0123456789abcdef", 5, 7)
    second = hub_settings(settings, tmp_path / "b", "second-hub-secret-0123456789abcdef", 100_000, 13)
    with LiveServer(create_app(first)) as a, LiveServer(create_app(second)) as b:
        yield Hub(a.app.state.settings, a), Hub(b.app.state.settings, b)


def test_two_apps_in_one_process_keep_their_own_keyring_limits_redis_and_job_options(
    hubs: tuple[Hub, Hub], db: Database
) -> None:
    a, b = hubs
    assert a.settings.redis_url != b.settings.redis_url  # each data directory has its embedded Redis
    _org, key = bootstrap_key(db, f"org-{uuid.uuid4().hex[:12]}", role="owner")  # valid on both: one database
    fresh = bootstrap_key(db, f"org-{uuid.uuid4().hex[:12]}", role="owner")[1]  # for after ``key``'s limit
    on_a, on_b = a.client(key), b.client(key)

    # Rate limits: each app counts in its own Redis against its own limit, at the same time.
    answers_a = [on_a.get("/v1/users") for _ in range(6)]
    answers_b = [on_b.get("/v1/users") for _ in range(6)]
    assert [r.status_code for r in answers_a] == [200] * 5 + [429]
    assert answers_a[-1].json()["code"] == "rate_limited"
    assert {r.headers["RateLimit-Limit"] for r in answers_a} == {"5"}
    assert [r.status_code for r in answers_b] == [200] * 6
    assert {r.headers["RateLimit-Limit"] for r in answers_b} == {"100000"}

    # Keyring: what each app encrypts (webhook secrets, stored idempotent answers) opens only
    # with its own secret key.
    endpoint_ids, run = [], uuid.uuid4().hex  # keys of this run only: the database outlives it
    for hub in (a, b):
        with hub.client(fresh) as client:
            created = client.post(
                "/v1/webhook-endpoints",
                json={"url": "https://hooks.example.com/hub", "events": ["booking.created"]},
                headers={"Idempotency-Key": f"two-apps-{run}-{hub.settings.data_dir.name}"},
            )
            assert created.status_code == 201, created.text
            endpoint_ids.append(created.json()["id"])
    keyrings = [keyring_for(a.settings), keyring_for(b.settings)]
    with db.read() as session:
        for mine, (endpoint_id, hub) in enumerate(zip(endpoint_ids, (a, b), strict=True)):
            endpoint = session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)).one()
            stored = session.scalars(
                select(IdempotencyKey).where(IdempotencyKey.key == f"two-apps-{run}-{hub.settings.data_dir.name}")
            ).one()
            assert keyrings[mine].decrypt(endpoint.secret_ciphertext, endpoint_id).startswith(b"whsec_")
            ad = associated_data(stored.api_key_id, stored.key)
            assert keyrings[mine].decrypt(stored.response_body or b"", ad)
            with pytest.raises(DecryptionError):
                keyrings[1 - mine].decrypt(endpoint.secret_ciphertext, endpoint_id)
            with pytest.raises(DecryptionError):
                keyrings[1 - mine].decrypt(stored.response_body or b"", ad)

    # Outbox relay: a booking made through an app is handed to that app's Redis only.
    for hub in (a, b):
        with hub.client(fresh) as client:
            host = client.post(
                "/v1/users",
                json={
                    "name": "Ada Host",
                    "email": "ada@example.com",
                    "timezone": "Europe/Berlin",
                    "working_hours": [{"weekday": "mon", "start": "09:00", "end": "17:00"}],
                },
            ).json()
            create_booking(client, booking(host["id"], f"{MONDAY}T10:00:00", f"{MONDAY}T10:30:00"))
        assert hub.server.app.state.relay.wait_idle(10)
    # the relay hands each batch to Redis as one fan-out job carrying its outbox events
    dispatched = [
        {event[0] for q in queues(hub.redis) for job in q.get_jobs() for event in job.args[0]} for hub in (a, b)
    ]
    assert dispatched[0]
    assert dispatched[1]
    assert not dispatched[0] & dispatched[1]

    # Job options: each worker runs its jobs in its own context, with its own job timeout.
    for hub in (a, b):
        for q in queues(hub.redis):
            q.empty()  # the bookings' jobs are not what is judged here
        enqueue(hub.redis, "tests.support.jobs.report", "seen", queue_name=DEFAULT)
    for hub in (a, b):
        context = JobContext(hub.settings, Database(hub.settings.resolved_database_url), hub.redis)
        HubWorker([queue(DEFAULT, hub.redis)], connection=hub.redis, serializer=JSONSerializer, context=context).work(
            burst=True, logging_level="ERROR", with_scheduler=False
        )
        context.db.dispose()
    reports = [hub.redis.hgetall("test:report:seen") for hub in (a, b)]
    assert reports == [
        {b"data_dir": str(a.settings.data_dir).encode(), b"timeout": b"7"},
        {b"data_dir": str(b.settings.data_dir).encode(), b"timeout": b"13"},
    ]


def test_a_job_outside_a_worker_has_no_context_to_guess() -> None:
    """Nothing is built from the environment behind a job's back."""
    with pytest.raises(NoJobContext):
        context()
