"""Client webhook delivery with real parts: a real HTTP receiver on 127.0.0.1 that verifies
every signature with the reference ``standardwebhooks`` library, a real database and Redis,
and the jobs run in-process exactly as the worker would run them (fetched back from RQ)."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
import pytest
import redis
from prometheus_client import REGISTRY
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import select, update
from standardwebhooks import Webhook

from hub import egress, http
from hub.bookings.outbox import emit
from hub.db import Database
from hub.db.tables import OutboxMessage, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from hub.deliveries import _ledger as ledger
from hub.deliveries import jobs
from hub.jobs.context import JobContext, running
from hub.jobs.queues import NOTIFY, queue
from hub.jobs.runner import job_id
from hub.redis import connect
from hub.settings import Settings
from tests.integration.helpers import MONDAY, assert_problem, booking, create_booking
from tests.support import tls
from tests.support.tenants import Tenant

# --- a real webhook receiver ---------------------------------------------------------------


class Reply(NamedTuple):
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = {}
    body: bytes = b'{"ok": true}'


class Received(NamedTuple):
    headers: dict[str, str]
    body: bytes
    payload: Any  # what Webhook.verify returned
    verify_error: str | None


class Receiver:
    """An HTTP server in a thread: verifies signatures, answers from a script (then 200)."""

    def __init__(self) -> None:
        self.secret: str | None = None
        self.replies: list[Reply] = []
        self.received: list[Received] = []
        self.endpoint_ids: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                payload, error = None, None
                try:
                    payload = Webhook(receiver.secret or "").verify(body, headers)
                except Exception as exc:  # noqa: BLE001 - any failure to verify is recorded
                    error = f"{type(exc).__name__}: {exc}"
                receiver.received.append(Received(headers, body, payload, error))
                reply = receiver.replies.pop(0) if receiver.replies else Reply()
                time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the sender gave up (timeout test)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/hub"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def verified(self) -> list[Received]:
        return [r for r in self.received if r.verify_error is None]


@pytest.fixture
def receiver(db: Database) -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()
    with db.write() as session:  # nothing may try this receiver again once it is gone
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id.in_(r.endpoint_ids), WebhookDelivery.status == "pending")
            .values(status="failed", next_attempt_at=None)
        )


# --- jobs in-process -----------------------------------------------------------------------


@pytest.fixture
def connection(settings: Settings) -> Iterator[redis.Redis]:
    client = connect(settings.redis_url or "", socket_timeout=None)
    yield client
    client.close()


@pytest.fixture
def job_ctx(settings: Settings, db: Database, connection: redis.Redis) -> Iterator[JobContext]:
    with running(JobContext(settings, db, connection)) as ctx:
        yield ctx


def run_job(connection: redis.Redis, rq_job_id: str) -> Any:
    """Run a queued job the way a worker would (fetched from Redis, JSON arguments), and take
    it off its queue so nothing else runs it again."""
    job = Job.fetch(rq_job_id, connection=connection, serializer=JSONSerializer)
    assert job.origin == NOTIFY
    queue(NOTIFY, connection).remove(job.id)
    return job.perform()


def deliver_job_id(delivery_id: str, number: int, *extra: str) -> str:
    return job_id("deliver", delivery_id, str(number), *extra)


def create_endpoint(
    tenant: Tenant, receiver: Receiver, events: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    body = {"url": receiver.url, "events": events or ["booking.created"], **extra}
    response = tenant.client.post("/v1/webhook-endpoints", json=body)
    assert response.status_code == 201, response.text
    endpoint = dict(response.json())
    receiver.secret = endpoint["secret"]
    receiver.endpoint_ids.append(endpoint["id"])
    return endpoint


def emit_event(db: Database, organization_id: str, event_type: str = "booking.created", **payload: Any) -> str:
    with db.write() as session:
        return emit(
            session,
            organization_id=organization_id,
            event_type=event_type,
            aggregate_type="booking",
            aggregate_id="bkg_01jd3w9k6v0m3y0q6d2x9t7h1e",
            payload={"id": "bkg_01jd3w9k6v0m3y0q6d2x9t7h1e", **payload},
        )


def fan_out_one(db: Database, organization_id: str, **payload: Any) -> str:
    """Emit an event, fan it out, and return the one delivery it created."""
    outbox_id = emit_event(db, organization_id, **payload)
    result = jobs.fan_out(outbox_id)
    assert result["created"] == 1, result
    with db.read() as session:
        return str(session.scalar(select(WebhookDelivery.id).where(WebhookDelivery.outbox_id == outbox_id)))


def delivery_of(db: Database, delivery_id: str) -> tuple[WebhookDelivery, list[WebhookAttempt]]:
    with db.read() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        assert delivery is not None
        attempts = list(
            session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id == delivery_id)
                .order_by(WebhookAttempt.attempt_number)
            )
        )
    return delivery, attempts


def endpoint_row(db: Database, endpoint_id: str) -> WebhookEndpoint:
    with db.read() as session:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        assert endpoint is not None
        return endpoint


def metric(result: str) -> float:
    return REGISTRY.get_sample_value("hub_webhook_deliveries_total", {"result": result}) or 0.0


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every retry immediately (same number of attempts as production)."""
    monkeypatch.setattr(jobs, "RETRY_DELAYS", (timedelta(0),) * len(jobs.RETRY_DELAYS))


# --- the production schedule -----------------------------------------------------------------


def test_the_retry_schedule_is_immediately_then_5s_5m_30m_2h_5h_10h_10h() -> None:
    assert jobs.max_attempts() == 8
    assert [jobs.policy().delay_after(n, jobs.Outcome(status_code=500, error="http_500")) for n in range(1, 8)] == [
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
        timedelta(hours=10),
    ]
    assert jobs.ATTEMPT_TIMEOUT == 15.0


# --- fan-out ---------------------------------------------------------------------------------


def test_fan_out_creates_one_delivery_per_subscribed_endpoint_and_only_once(
    tenant: Tenant,
    other_tenant: Tenant,
    receiver: Receiver,
    db: Database,
    job_ctx: JobContext,
    connection: redis.Redis,
) -> None:
    subscribed = create_endpoint(tenant, receiver, ["booking.created", "booking.cancelled"])
    create_endpoint(tenant, receiver, ["booking.cancelled"])  # another event type
    disabled = create_endpoint(tenant, receiver)
    with db.write() as session:
        session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == disabled["id"]).values(status="disabled"))
    deleted = create_endpoint(tenant, receiver)
    assert tenant.client.delete(f"/v1/webhook-endpoints/{deleted['id']}").status_code == 200
    create_endpoint(other_tenant, receiver)  # another organization

    outbox_id = emit_event(db, tenant.organization_id, title="Intro call")
    first = jobs.fan_out(outbox_id)
    second = jobs.fan_out(outbox_id)

    assert first["created"] == 1
    assert second["created"] == 0
    with db.read() as session:
        rows = list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.outbox_id == outbox_id)))
        message = session.get(OutboxMessage, outbox_id)
    assert message is not None
    assert [r.endpoint_id for r in rows] == [subscribed["id"]]
    delivery = rows[0]
    assert delivery.id.startswith("whd_")
    assert delivery.status == "pending"
    event = json.loads(delivery.body)
    assert list(event) == ["type", "timestamp", "data"]
    assert event["type"] == "booking.created"
    assert event["data"] == message.payload == {"id": "bkg_01jd3w9k6v0m3y0q6d2x9t7h1e", "title": "Intro call"}
    assert datetime.fromisoformat(event["timestamp"]) == message.created_at
    assert event["timestamp"].endswith("Z")

    job = Job.fetch(deliver_job_id(delivery.id, 1), connection=connection, serializer=JSONSerializer)
    assert job.func_name == "hub.deliveries.jobs.deliver"
    assert job.args == [delivery.id, 1]
    assert job.retries_left is None  # deliveries keep their own schedule, not RQ's
    receiver.secret = subscribed["secret"]
    run_job(connection, job.id)
    assert len(receiver.verified()) == 1


def test_a_delivery_is_signed_and_the_receiver_verifies_it(
    tenant: Tenant, receiver: Receiver, db: Database, job_ctx: JobContext, connection: redis.Redis
) -> None:
    endpoint = create_endpoint(tenant, receiver)
    delivery_id = fan_out_one(db, tenant.organization_id)
    succeeded_before = metric("succeeded")

    result = run_job(connection, deliver_job_id(delivery_id, 1))

    assert result["outcome"] == "succeeded"
    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert got.verify_error is None, got.verify_error
    assert got.headers["webhook-id"] == delivery_id
    assert got.headers["content-type"] == "application/json"
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 60
    assert got.headers["webhook-signature"].startswith("v1,")
    assert got.payload["type"] == "booking.created"
    delivery, attempts = delivery_of(db, delivery_id)
    assert got.body == delivery.body  # the exact stored bytes
    assert delivery.status == "succeeded"
    assert delivery.delivered_at is not None
    assert [(a.attempt_number, a.status_code, a.error) for a in attempts] == [(1, 200, None)]
    assert attempts[0].latency_ms is not None
    assert attempts[0].latency_ms >= 0
    assert attempts[0].response_snippet == '{"ok": true}'
    assert metric("succeeded") == succeeded_before + 1
    scheduled = ScheduledJobRegistry(queue=queue(NOTIFY, connection)).get_job_ids()
    assert [job for job in scheduled if delivery_id in job] == []  # nothing left behind

    listed = tenant.client.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries").json()["data"]
    assert [(d["id"], d["status"], len(d["attempts"])) for d in listed] == [(delivery_id, "succeeded", 1)]

    # a duplicate or outdated job sends nothing again
    assert jobs.deliver(delivery_id, 1)["outcome"] == "already_succeeded"
    assert jobs.deliver(delivery_id)["outcome"] == "already_succeeded"
    assert len(receiver.received) == 1


def test_a_booking_reaches_the_receiver_end_to_end(
    tenant: Tenant, receiver: Receiver, db: Database, job_ctx: JobContext, connection: redis.Redis
) -> None:
    create_endpoint(tenant, receiver, ["booking.created", "booking.cancelled"])
    host = tenant.create_user()
    created = create_booking(tenant.client, booking(host["id"], f"{MONDAY}T10:00:00", f"{MONDAY}T10:30:00"))
    with db.read() as session:
        outbox_id = session.scalar(
            select(OutboxMessage.id).where(
                OutboxMessage.aggregate_id == created["id"], OutboxMessage.event_type == "booking.created"
            )
        )
    assert outbox_id is not None
    jobs.fan_out(outbox_id)
    with db.read() as session:
        delivery_id = session.scalar(select(WebhookDelivery.id).where(WebhookDelivery.outbox_id == outbox_id))
    assert delivery_id is not None
    run_job(connection, deliver_job_id(delivery_id, 1))

    (got,) = receiver.verified()
    assert got.payload["type"] == "booking.created"
    assert got.payload["data"]["id"] == created["id"]


# --- failures and retries ----------------------------------------------------------------------


def test_500_then_200_gives_two_attempts_and_one_success(
    tenant: Tenant, receiver: Receiver, db: Database, job_ctx: JobContext, connection: redis.Redis, fast_retries: None
) -> None:
    endpoint = create_endpoint(tenant, receiver)
    receiver.replies = [Reply(500, body=b"database is down")]
    delivery_id = fan_out_one(db, tenant.organization_id)
    retrying_before = metric("retrying")

    first = run_job(connection, deliver_job_id(delivery_id, 1))
    assert first["outcome"] == "retrying"
    assert metric("retrying") == retrying_before + 1
    delivery, attempts = delivery_of(db, delivery_id)
    assert delivery.status == "pending"
    assert delivery.last_status_code == 500
    assert endpoint_row(db, endpoint["id"]).failing_since is not None
    assert attempts[0].response_snippet == "database is down"
    assert attempts[0].next_attempt_at is not None

    second = run_job(connection, deliver_job_id(delivery_id, 2))  # enqueued by the failed attempt
    assert second["outcome"] == "succeeded"

    delivery, attempts = delivery_of(db, delivery_id)
    assert delivery.status == "succeeded"
    assert [(a.attempt_number, a.status_code) for a in attempts] == [(1, 500), (2, 200)]
    assert attempts[0].error == "http_500: the endpoint answered HTTP 500"
    assert attempts[1].next_attempt_at is None
    assert len(receiver.verified()) == 2
    assert {r.headers["webhook-id"] for r in receiver.received} == {delivery_id}  # same message id: dedupable
    assert endpoint_row(db, endpoint["id"]).failing_since is None

    page = tenant.client.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries").json()
    (listed,) = page["data"]
    assert listed["status"] == "succeeded"
    assert [(a["attempt_number"], a["status_code"]) for a in listed["attempts"]] == [(1, 500), (2, 200)]
    assert listed["attempts"][0]["response_snippet"] == "database is down"
    assert listed["attempts"][0]["next_attempt_at"] is not None


def test_a_cookie_set_by_one_endpoint_never_reaches_another_on_the_same_host(
    tenant: Tenant, other_tenant: Tenant, receiver: Receiver, db: Database, job_ctx: JobContext, connection: redis.Redis
) -> None:
    # Deliveries to one destination share the process's client; its answers' cookies are dropped.
    create_endpoint(tenant, receiver)
    receiver.replies = [Reply(200, headers={"Set-Cookie": "session=tenant-a; Path=/"})]
    first = fan_out_one(db, tenant.organization_id)
    assert run_job(connection, deliver_job_id(first, 1))["outcome"] == "succeeded"

    create_endpoint(other_tenant, receiver)
    second = fan_out_one(db, other_tenant.organization_id)
    assert run_job(connection, deliver_job_id(second, 1))["outcome"] == "succeeded"

    assert len(receiver.received) == 2
    assert [r.headers.get("cookie") for r in receiver.received] == [None, None]


def test_a_failed_first_attempt_is_retried_after_5_seconds(
    tenant: Tenant, receiver: Receiver, db: Database, job_ctx: JobContext, connection: redis.Redis
) -> None:
    create_endpoint(tenant, receiver)
    receiver.replies = [Reply(503)]
    delivery_id = fan_out_one(db, tenant.organization_id)

    run_job(connection, deliver_job_id(delivery_id, 1))

    delivery, (attempt,) = delivery_of(db, delivery_id)
    assert attempt.next_attempt_at is not None
    assert attempt.next_attempt_at - attempt.attempted_at == timedelta(seconds=5)
    assert delivery.next_attempt_at == attempt.next_attempt_at
    registry = ScheduledJobRegistry(queue=queue(NOTIFY, connection))
    scheduled = Job.fetch(deliver_job_id(delivery_id, 2), connection=connection, serializer=JSONSerializer)
    assert scheduled.id in registry.get_job_ids()
    when = registry.get_scheduled_time(scheduled)
    assert timedelta(seconds=2) < when.replace(tzinfo=UTC) - datetime.now(UTC) <= timedelta(seconds=6)
    registry.remove(scheduled)


@pytest.mark.parametrize(("status", "retry_after", "expected"), [(429, "3600", 3600), (503, "1", 5)])
def test_retry_after_is_honoured_when_longer_than_the_schedule(
    tenant: Tenant,
    receiver: Receiver,
    db: Database,
    job_ctx: JobContext,
    connection: redis.Redis,
    status: int,
    retry_after: str,
    expected: int,
) -> None:
    create_endpoint(tenant, receiver)
    receiver.replies = [Reply(status, headers={"Retry-After": retry_after})]
    delivery_id = fan_out_one(db, tenant.organization_id)

    run_job(connection, deliver_job_id(delivery_id, 1))

    _delivery, (attempt,) = delivery_of(db, delivery_id)
    assert attempt.status_code == status
    assert attempt.next_attempt_at is not None
    assert attempt.next_attempt_at - attempt.attempted_at == timedelta(seconds=expected)
    ScheduledJobRegistry(queue=queue(NOTIFY, connection)).remove(deliver_job_id(delivery_id, 2))


def test_a_timeout_is_a_failed_attempt(
    tenant: Tenant,
    receiver: Receiver,
    db: Database,
    job_ctx: JobContext,
    connection: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jobs, "ATTEMPT_TIMEOUT", 0.5)
    create_endpoint(tenant, receiver)
    receiver.replies = [Reply(200, delay=1.5)]
    delivery_id = fan_out_one(db, tenant.organization_id)

    started = time.monotonic()
    result = run_job(connection, deliver_job_id(delivery_id, 1))

    assert time.monotonic() - started < 1.4
    assert result["outcome"] == "retrying"
    delivery, (attempt,) = delivery_of(db, delivery_id)
    assert attempt.status_code is None
    assert attempt.error is not None
    assert attempt.error.startswith("timeout:")
    assert attempt.latency_ms is not None
    assert attempt.latency_ms >= 400
    assert delivery.status == "pending"
    ScheduledJobRegistry(queue=queue(NOTIFY, connection)).remove(deliver_job_id(delivery_id, 2))


def test_a_redirect_is_a_failed_attempt_and_is_not_followed(
    tenant: Tenant, receiver: Receiver, db: Database, job_ctx: JobContext, connection: redis.Redis
) -> None:
    create_endpoint(tenant, receiver)
    receiver.replies = [Reply(301, headers={"Location": receiver.url + "/moved"})]
    delivery_id = fan_out_one(db, tenant.organization_id)

    run_job(connection, deliver_job_id(delivery_id, 1))

    _delivery, (attempt,) = delivery_of(db, delivery_id)
    assert attempt.status_code == 301
    assert attempt.error is not None
    assert attempt.error.startswith("redirect:")
    assert len(receiver.received) == 1
    ScheduledJobRegistry(queue=queue(NOTIFY, connection)).remove(deliver_job_id(delivery_id, 2))


def test_after_the_last_attempt_the_delivery_is_failed(
    tenant: Tenant, receiver: Receiver, db: Database, job_ctx: JobContext, connection: redis.Redis, fast_retries: None
) -> None:
    create_endpoint(tenant, receiver)
    receiver.replies = [Reply(500)] * jobs.max_attempts()
    delivery_id = fan_out_one(db, tenant.organization_id)
    failed_before = metric("failed")

    results = [run_job(connection, deliver_job_id(delivery_id, n))["outcome"] for n in range(1, 9)]

    assert results == ["retrying"] * 7 + ["failed"]
    assert metric("failed") == failed_before + 1
    delivery, attempts = delivery_of(db, delivery_id)
    assert delivery.status == "failed"
    assert delivery.next_attempt_at is None
    assert [a.attempt_number for a in attempts] == list(range(1, 9))
    assert not Job.exists(deliver_job_id(delivery_id, 9), connection=connection)


def test_410_gone_disables_the_endpoint_and_manual_retry_needs_it_enabled(
    tenant: Tenant, receiver: Receiver, db: Database, job_ctx: JobContext, connection: redis.Redis
) -> None:
    endpoint = create_endpoint(tenant, receiver)
    receiver.replies = [Reply(410)]
    delivery_id = fan_out_one(db, tenant.organization_id)
    disabled_before = metric("disabled")

    assert run_job(connection, deliver_job_id(delivery_id, 1))["outcome"] == "disabled"

    assert metric("disabled") == disabled_before + 1
    delivery, _attempts = delivery_of(db, delivery_id)
    assert delivery.status == "failed"
    assert not Job.exists(deliver_job_id(delivery_id, 2), connection=connection)
    shown = tenant.client.get(f"/v1/webhook-endpoints/{endpoint['id']}").json()
    assert shown["status"] == "disabled"
    assert "410" in shown["disabled_reason"]
    assert shown["disabled_at"] is not None
    # a new event is not delivered to a disabled endpoint
    assert jobs.fan_out(emit_event(db, tenant.organization_id))["created"] == 0

    refused = tenant.client.post(f"/v1/webhook-deliveries/{delivery_id}/retry")
    body = assert_problem(refused, 409, "webhook_endpoint_disabled")
    assert f"/v1/webhook-endpoints/{endpoint['id']}/enable" in body["detail"]

    enabled = tenant.client.post(f"/v1/webhook-endpoints/{endpoint['id']}/enable")
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["status"] == "enabled"
    assert enabled.json()["disabled_reason"] is None

    retried = tenant.client.post(f"/v1/webhook-deliveries/{delivery_id}/retry")
    assert retried.status_code == 202, retried.text
    assert retried.json()["object"] == "webhook_delivery"
    assert retried.json()["status"] == "pending"
    assert run_job(connection, deliver_job_id(delivery_id, 2, "retry"))["outcome"] == "succeeded"
    delivery, attempts = delivery_of(db, delivery_id)
    assert delivery.status == "succeeded"
    assert [a.status_code for a in attempts] == [410, 200]


def test_manual_retry_over_the_api_sends_a_failed_delivery_again(
    tenant: Tenant,
    receiver: Receiver,
    db: Database,
    job_ctx: JobContext,
    connection: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jobs, "RETRY_DELAYS", ())  # a single automatic attempt
    create_endpoint(tenant, receiver)
    receiver.replies = [Reply(500)]
    delivery_id = fan_out_one(db, tenant.organization_id)
    assert run_job(connection, deliver_job_id(delivery_id, 1))["outcome"] == "failed"
    assert tenant.client.get(f"/v1/webhook-deliveries/{delivery_id}").json()["status"] == "failed"

    response = tenant.client.post(f"/v1/webhook-deliveries/{delivery_id}/retry")

    assert response.status_code == 202, response.text
    assert response.json()["id"] == delivery_id
    assert response.json()["status"] == "pending"
    assert run_job(connection, deliver_job_id(delivery_id, 2, "retry"))["outcome"] == "succeeded"
    shown = tenant.client.get(f"/v1/webhook-deliveries/{delivery_id}").json()
    assert shown["status"] == "succeeded"
    assert [(a["attempt_number"], a["status_code"]) for a in shown["attempts"]] == [(1, 500), (2, 200)]
    assert len(receiver.verified()) == 2

    # a succeeded delivery can be replayed too
    assert tenant.client.post(f"/v1/webhook-deliveries/{delivery_id}/retry").status_code == 202
    assert run_job(connection, deliver_job_id(delivery_id, 3, "retry"))["outcome"] == "succeeded"
    assert len(receiver.verified()) == 3


def test_an_endpoint_failing_for_more_than_5_days_is_disabled(
    tenant: Tenant, receiver: Receiver, db: Database, job_ctx: JobContext, connection: redis.Redis
) -> None:
    endpoint = create_endpoint(tenant, receiver)
    with db.write() as session:
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint["id"])
            .values(failing_since=datetime.now(UTC) - timedelta(days=5, hours=1))
        )
    receiver.replies = [Reply(500)]
    delivery_id = fan_out_one(db, tenant.organization_id)

    assert run_job(connection, deliver_job_id(delivery_id, 1))["outcome"] == "disabled"

    row = endpoint_row(db, endpoint["id"])
    assert row.status == "disabled"
    assert row.disabled_reason is not None
    assert "more than 5 days" in row.disabled_reason
    assert delivery_of(db, delivery_id)[0].status == "failed"


def test_a_streak_shorter_than_5_days_keeps_the_endpoint_enabled(
    tenant: Tenant, receiver: Receiver, db: Database, job_ctx: JobContext, connection: redis.Redis
) -> None:
    endpoint = create_endpoint(tenant, receiver)
    since = datetime.now(UTC) - timedelta(days=4)
    with db.write() as session:
        session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint["id"]).values(failing_since=since))
    receiver.replies = [Reply(500)]
    delivery_id = fan_out_one(db, tenant.organization_id)

    assert run_job(connection, deliver_job_id(delivery_id, 1))["outcome"] == "retrying"

    row = endpoint_row(db, endpoint["id"])
    assert row.status == "enabled"
    assert row.failing_since is not None
    assert abs(row.failing_since - since) < timedelta(seconds=1)
    ScheduledJobRegistry(queue=queue(NOTIFY, connection)).remove(deliver_job_id(delivery_id, 2))


def test_the_url_is_checked_again_at_delivery_time(
    tenant: Tenant, receiver: Receiver, settings: Settings, db: Database, connection: redis.Redis
) -> None:
    create_endpoint(tenant, receiver)  # accepted: the test server allows private addresses
    with running(JobContext(msgspec.structs.replace(settings, webhooks_allow_private=False), db, connection)):
        delivery_id = fan_out_one(db, tenant.organization_id)
        result = run_job(connection, deliver_job_id(delivery_id, 1))

    assert result["outcome"] == "retrying"
    assert receiver.received == []
    delivery, (attempt,) = delivery_of(db, delivery_id)
    assert attempt.status_code is None
    assert attempt.error is not None
    assert attempt.error.startswith("webhook_url_not_allowed:")
    assert "loopback" in attempt.error
    assert delivery.last_error == attempt.error
    ScheduledJobRegistry(queue=queue(NOTIFY, connection)).remove(deliver_job_id(delivery_id, 2))


def test_nothing_is_sent_for_a_deleted_endpoint(
    tenant: Tenant, receiver: Receiver, db: Database, job_ctx: JobContext, connection: redis.Redis
) -> None:
    endpoint = create_endpoint(tenant, receiver)
    delivery_id = fan_out_one(db, tenant.organization_id)
    assert tenant.client.delete(f"/v1/webhook-endpoints/{endpoint['id']}").status_code == 200

    assert run_job(connection, deliver_job_id(delivery_id, 1))["outcome"] == "endpoint_deleted"

    assert receiver.received == []
    delivery, attempts = delivery_of(db, delivery_id)
    assert delivery.status == "failed"
    assert attempts == []
    assert_problem(tenant.client.post(f"/v1/webhook-deliveries/{delivery_id}/retry"), 404, "not_found")


def test_the_sweep_requeues_an_attempt_whose_job_was_lost(
    tenant: Tenant, receiver: Receiver, db: Database, job_ctx: JobContext, connection: redis.Redis
) -> None:
    create_endpoint(tenant, receiver)
    delivery_id = fan_out_one(db, tenant.organization_id)
    Job.fetch(deliver_job_id(delivery_id, 1), connection=connection, serializer=JSONSerializer).delete()  # lost
    set_due(db, delivery_id, datetime.now(UTC) - timedelta(minutes=2))

    assert jobs.sweep_deliveries()["requeued"] >= 1

    assert run_job(connection, deliver_job_id(delivery_id, 1, "sweep"))["outcome"] == "succeeded"
    _delivery, attempts = delivery_of(db, delivery_id)
    assert [a.attempt_number for a in attempts] == [1]
    assert len(receiver.verified()) == 1


def test_an_attempt_whose_worker_died_is_taken_over_once_its_lease_runs_out(
    tenant: Tenant, receiver: Receiver, db: Database, job_ctx: JobContext, connection: redis.Redis
) -> None:
    create_endpoint(tenant, receiver)
    delivery_id = fan_out_one(db, tenant.organization_id)
    lease = timedelta(seconds=job_ctx.settings.job_timeout_seconds) + jobs.LEASE_GRACE
    claim = ledger.claim(db, delivery_id, 1, lease=lease)  # a worker took attempt 1 ... and died
    assert isinstance(claim, ledger.Claim)

    # while the lease runs, the same job (RQ re-running it, or a duplicate) sends nothing
    assert run_job(connection, deliver_job_id(delivery_id, 1))["outcome"] == "in_flight"
    assert receiver.received == []
    shown = tenant.client.get(f"/v1/webhook-deliveries/{delivery_id}").json()
    assert (shown["status"], shown["attempt_count"], shown["attempts"]) == ("pending", 1, [])

    set_due(db, delivery_id, datetime.now(UTC) - timedelta(minutes=2))  # the lease ran out long ago
    assert jobs.sweep_deliveries()["requeued"] >= 1
    assert run_job(connection, deliver_job_id(delivery_id, 1, "sweep"))["outcome"] == "succeeded"

    _delivery, attempts = delivery_of(db, delivery_id)
    assert [(a.attempt_number, a.status_code) for a in attempts] == [(1, 200)]
    assert len(receiver.verified()) == 1


class Killed(BaseException):
    """Stands for SIGKILL: nothing in the job gets to clean up."""


def test_a_worker_killed_mid_attempt_is_retried_by_the_sweep_once_its_lease_runs_out(
    tenant: Tenant,
    receiver: Receiver,
    db: Database,
    job_ctx: JobContext,
    connection: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    create_endpoint(tenant, receiver)
    delivery_id = fan_out_one(db, tenant.organization_id)

    def killed(*_args: Any, **_kwargs: Any) -> Any:
        raise Killed

    monkeypatch.setattr(jobs, "_attempt", killed)
    claimed_at = datetime.now(UTC)
    with pytest.raises(Killed):
        run_job(connection, deliver_job_id(delivery_id, 1))
    monkeypatch.undo()

    # the claim holds the attempt for its lease; nothing else is queued for it
    lease = timedelta(seconds=job_ctx.settings.job_timeout_seconds) + jobs.LEASE_GRACE
    delivery, attempts = delivery_of(db, delivery_id)
    assert (delivery.status, delivery.attempt_count, attempts) == ("pending", 1, [])
    assert delivery.next_attempt_at is not None
    assert claimed_at + lease <= delivery.next_attempt_at <= datetime.now(UTC) + lease
    scheduled = ScheduledJobRegistry(queue=queue(NOTIFY, connection)).get_job_ids()
    assert [job for job in scheduled if delivery_id in job] == []
    assert receiver.received == []

    # while the lease runs the sweep leaves the attempt alone
    jobs.sweep_deliveries()
    assert not Job.exists(deliver_job_id(delivery_id, 1, "sweep"), connection=connection)

    # once the lease has run out (by more than the sweep's grace), the sweep hands it on
    set_due(db, delivery_id, datetime.now(UTC) - jobs.SWEEP_GRACE - timedelta(seconds=1))
    assert jobs.sweep_deliveries()["requeued"] >= 1
    assert run_job(connection, deliver_job_id(delivery_id, 1, "sweep"))["outcome"] == "succeeded"

    _delivery, attempts = delivery_of(db, delivery_id)
    assert [(a.attempt_number, a.status_code) for a in attempts] == [(1, 200)]
    assert len(receiver.verified()) == 1


def test_a_crashed_attempt_releases_its_claim(
    tenant: Tenant,
    receiver: Receiver,
    db: Database,
    job_ctx: JobContext,
    connection: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    create_endpoint(tenant, receiver)
    delivery_id = fan_out_one(db, tenant.organization_id)

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(ledger, "record", broken)
    with pytest.raises(RuntimeError):
        jobs.deliver(delivery_id, 1)
    monkeypatch.undo()

    delivery, attempts = delivery_of(db, delivery_id)
    assert attempts == []
    assert delivery.next_attempt_at is not None
    assert delivery.next_attempt_at <= datetime.now(UTC)
    assert jobs.deliver(delivery_id, 1)["outcome"] == "succeeded"  # the attempt is taken over at once
    assert [a.attempt_number for a in delivery_of(db, delivery_id)[1]] == [1]
    queue(NOTIFY, connection).remove(deliver_job_id(delivery_id, 1))


def set_due(db: Database, delivery_id: str, when: datetime) -> None:
    with db.write() as session:
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(next_attempt_at=when))


# --- pinning: the attempt connects to the address its check accepted ---------------------------

PUBLIC_ADDRESS = "93.184.215.14"  # a publicly routable address; the test routes it to a local server


@pytest.fixture
def strict_ctx(settings: Settings, db: Database, connection: redis.Redis) -> Iterator[JobContext]:
    """Jobs run as operators run them: webhooks to private addresses refused."""
    with running(JobContext(msgspec.structs.replace(settings, webhooks_allow_private=False), db, connection)) as ctx:
        yield ctx


@pytest.fixture
def public_receiver() -> Iterator[Receiver]:
    """The endpoint's real server, at ``PUBLIC_ADDRESS`` on the internet of ``tls.routed``."""
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_dns_rebinding_cannot_reach_a_private_address(
    tenant: Tenant,
    receiver: Receiver,
    public_receiver: Receiver,
    db: Database,
    strict_ctx: JobContext,
    connection: redis.Redis,
) -> None:
    # ``receiver`` is a service on Hub's own loopback; the name first answers a public address
    # (where the customer's real server is), then 127.0.0.1, as a rebinding DNS server would.
    receiver.replies = [Reply(body=b"internal admin page")] * 4
    port = receiver.server.server_address[1]
    receiver.url = f"http://rebind.example.test:{port}/hooks/hub"
    endpoint = create_endpoint(tenant, receiver)  # created on a server that does not resolve it
    public_receiver.secret = endpoint["secret"]
    resolver = tls.resolver_answering(PUBLIC_ADDRESS, "127.0.0.1")
    internet = tls.routed({(PUBLIC_ADDRESS, port): public_receiver.server.server_address[1]})

    with egress.replaced_network(egress.Network(resolver=resolver, transport=internet)):
        first = fan_out_one(db, tenant.organization_id)
        assert run_job(connection, deliver_job_id(first, 1))["outcome"] == "succeeded"
        assert resolver.questions == ["rebind.example.test"]  # type: ignore[attr-defined]  # asked once
        second = fan_out_one(db, tenant.organization_id)
        assert run_job(connection, deliver_job_id(second, 1))["outcome"] == "retrying"

    assert receiver.received == []  # nothing reached loopback
    (got,) = public_receiver.verified()  # the checked address got the first delivery
    assert got.headers["host"] == f"rebind.example.test:{port}"
    assert got.headers["webhook-id"] == first
    shown = tenant.client.get(f"/v1/webhook-deliveries/{first}").json()
    assert [(a["status_code"], a["response_snippet"]) for a in shown["attempts"]] == [(200, '{"ok": true}')]

    # the next attempt's check got 127.0.0.1: refused, and the refusal does not show the address
    shown = tenant.client.get(f"/v1/webhook-deliveries/{second}").json()
    (attempt,) = shown["attempts"]
    assert attempt["status_code"] is None
    assert attempt["response_snippet"] is None
    assert attempt["error"] == (
        "webhook_url_not_allowed: url rebind.example.test resolves to a loopback address; "
        "webhooks must go to a publicly routable address"
    )
    assert "127.0.0.1" not in json.dumps(shown)
    assert "internal admin page" not in json.dumps(shown)
    ScheduledJobRegistry(queue=queue(NOTIFY, connection)).remove(deliver_job_id(second, 2))


def _tls_receiver(context: ssl.SSLContext, server_names: list[str | None]) -> Receiver:
    def note_server_name(_sock: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        server_names.append(name)

    context.sni_callback = note_server_name  # type: ignore[assignment]
    r = Receiver()
    r.server.socket = context.wrap_socket(r.server.socket, server_side=True)
    r.thread.start()
    return r


@pytest.mark.parametrize("certificate_names", ["host", "addresses only"])
def test_a_pinned_https_delivery_keeps_host_sni_and_verifies_the_host_name(
    tenant: Tenant,
    db: Database,
    strict_ctx: JobContext,
    connection: redis.Redis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    certificate_names: str,
) -> None:
    ca = tls.ThrowawayCA(tmp_path / "tls")
    monkeypatch.setattr(http, "_tls_context", ca.trusting_context)
    if certificate_names == "host":
        context = ca.issue("hooks", dns=["hooks.example.test"])
    else:  # valid for the addresses Hub connects to, but not for the host name
        context = ca.issue("addresses", dns=["other.example.test"], ips=[PUBLIC_ADDRESS, "127.0.0.1"])
    server_names: list[str | None] = []
    server = _tls_receiver(context, server_names)
    try:
        port = server.server.server_address[1]
        server.url = f"https://hooks.example.test:{port}/hooks/hub"
        create_endpoint(tenant, server)
        resolver = tls.resolver_answering(PUBLIC_ADDRESS)
        internet = tls.routed({(PUBLIC_ADDRESS, port): port})
        with egress.replaced_network(egress.Network(resolver=resolver, transport=internet)):
            delivery_id = fan_out_one(db, tenant.organization_id)
            result = run_job(connection, deliver_job_id(delivery_id, 1))
    finally:
        server.server.shutdown()
        server.server.server_close()

    assert server_names == ["hooks.example.test"]  # SNI: the host, not the address
    _delivery, (attempt,) = delivery_of(db, delivery_id)
    if certificate_names == "host":
        assert result["outcome"] == "succeeded", attempt.error
        (got,) = server.verified()
        assert got.headers["host"] == f"hooks.example.test:{port}"
    else:
        assert result["outcome"] == "retrying"
        assert server.received == []
        assert attempt.error is not None
        assert attempt.error.startswith("network_error: ConnectError:")
        assert "hooks.example.test" in attempt.error  # certificate checked against the host name
        ScheduledJobRegistry(queue=queue(NOTIFY, connection)).remove(deliver_job_id(delivery_id, 2))


def test_private_addresses_still_work_when_allowed(
    tenant: Tenant, receiver: Receiver, db: Database, job_ctx: JobContext, connection: redis.Redis
) -> None:
    # the test server and jobs allow private addresses, like ``hub dev``: nothing is pinned
    port = receiver.server.server_address[1]
    receiver.url = f"http://localhost:{port}/hooks/hub"
    create_endpoint(tenant, receiver)
    delivery_id = fan_out_one(db, tenant.organization_id)
    assert run_job(connection, deliver_job_id(delivery_id, 1))["outcome"] == "succeeded"
    (got,) = receiver.verified()
    assert got.headers["host"] == f"localhost:{port}"
