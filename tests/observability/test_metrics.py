"""``/metrics`` after a scripted journey: every metric operators alert on is there, with the
counts the journey caused. The journey runs on its own database and Redis, so the gauges read
at scrape time (queues, dead letters, connections, push channels) are exact."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub.clock import utcnow
from hub.db import Database
from hub.db.tables import Calendar, Connection, PushChannel
from hub.ids import new_id
from hub.jobs.runner import enqueue
from hub.settings import Settings
from tests.support.google_standin import push_headers
from tests.support.servers import RedisServer, WebhookReceiver, free_port, wait_for
from tests.support.workers import hub_env
from tests.support.worlds import HubWorld, hub_world

pytestmark = pytest.mark.slow

MONDAY = "2030-12-02"
Sample = tuple[str, frozenset[tuple[str, str]]]


@dataclass
class Journey(HubWorld):
    receiver: WebhookReceiver

    def scrape(self) -> dict[Sample, float]:
        response = httpx.get(f"{self.server.url}/metrics")
        assert response.status_code == 200, response.text
        types = [line for line in response.text.splitlines() if line.startswith("# TYPE ")]
        assert len(types) == len(set(types)), "a metric family is exposed twice"
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }

    def book(self, host_id: str, hour: int) -> httpx.Response:
        return self.tenant.client.post(
            "/v1/bookings",
            json={
                "host_id": host_id,
                "start": f"{MONDAY}T{hour:02d}:00:00",
                "duration_minutes": 30,
                "timezone": "Europe/Berlin",
            },
        )


@pytest.fixture
def journey(settings: Settings, tmp_path: Path) -> Iterator[Journey]:
    with (
        WebhookReceiver() as receiver,
        hub_world(
            settings,
            tmp_path,
            own_database=True,
            # Google channels get notifications below: only a configured provider has an intake
            google_client_id="metrics-test-client",
            google_client_secret="metrics-test-secret",
        ) as world,
    ):
        yield Journey(**vars(world), receiver=receiver)


def value(samples: dict[Sample, float], name: str, **labels: str) -> float:
    """The sample's value (0 when absent); labels not given must match any value only if unique."""
    matches = [v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls]
    assert len(matches) <= 1, f"{name}{labels} is ambiguous"
    return matches[0] if matches else 0.0


def delta(before: dict[Sample, float], after: dict[Sample, float], name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def _linked_accounts(db: Database, organization_id: str, user_id: str) -> str:
    """Three connections (google active + reauth_required, microsoft error) and push channels:
    google's soonest expires in 30 minutes, microsoft's only one is stopped."""
    now = utcnow()
    secret_hash = hashlib.sha256(b"right-token").hexdigest()
    channel_id = f"hub-{uuid.uuid4().hex}"
    with db.write() as session:
        connections = []
        for provider, status in (("google", "active"), ("google", "reauth_required"), ("microsoft", "error")):
            connection = Connection(
                id=new_id("connection"),
                organization_id=organization_id,
                user_id=user_id,
                provider=provider,
                account_id=uuid.uuid4().hex,
                status=status,
                scopes=[],
                consecutive_failures=0,
                created_at=now,
                updated_at=now,
            )
            session.add(connection)
            connections.append(connection)
        session.flush()
        for connection, expires_in, status, channel in (
            (connections[0], timedelta(minutes=30), "active", channel_id),
            (connections[0], timedelta(hours=20), "active", f"hub-{uuid.uuid4().hex}"),
            (connections[2], timedelta(minutes=1), "stopped", f"hub-{uuid.uuid4().hex}"),
        ):
            calendar = Calendar(
                id=new_id("calendar"),
                connection_id=connection.id,
                provider_calendar_id=uuid.uuid4().hex,
                name="Work",
                primary=True,
                busy_source=True,
                booking_target=False,
                created_at=now,
            )
            session.add(calendar)
            session.flush()
            session.add(
                PushChannel(
                    id=new_id("channel"),
                    connection_id=connection.id,
                    calendar_id=calendar.id,
                    provider=connection.provider,
                    channel_id=channel,
                    secret_hash=secret_hash,
                    status=status,
                    expires_at=now + expires_in,
                    created_at=now,
                )
            )
    return channel_id


def test_metrics_after_a_journey(journey: Journey) -> None:
    before = journey.scrape()
    host = journey.tenant.create_user(email=f"host-{uuid.uuid4().hex[:6]}@example.com")
    endpoint = journey.tenant.client.post(
        "/v1/webhook-endpoints", json={"url": journey.receiver.url, "events": ["booking.created"]}
    )
    assert endpoint.status_code == 201, endpoint.text

    # bookings: two created, one conflict, one rejected
    created = [journey.book(host["id"], hour) for hour in (9, 10)]
    assert [r.status_code for r in created] == [201, 201]
    assert journey.book(host["id"], 9).status_code == 409
    assert journey.book(host["id"], 20).status_code == 409  # outside working hours: rejected, also a 409
    booking_id = created[0].json()["id"]
    assert journey.tenant.client.get(f"/v1/bookings/{booking_id}").status_code == 200

    # provider intake: an unknown channel, and a known one with the wrong token
    channel_id = _linked_accounts(journey.db, journey.tenant.organization_id, host["id"])
    unknown = httpx.post(f"{journey.server.url}/webhooks/google", headers=push_headers("hub-nobody", "x", 1))
    assert unknown.status_code == 200
    forged = httpx.post(f"{journey.server.url}/webhooks/google", headers=push_headers(channel_id, "wrong-token", 2))
    assert forged.status_code == 403

    # a job that crashes without retries lands in the dead letters
    enqueue(journey.redis, "tests.support.jobs.crash", "metrics", id=f"crash-{uuid.uuid4().hex}", retry=False)
    assert journey.server.app.state.relay.wait_idle(10), "the relay did not hand its events over"
    journey.run_jobs(max_jobs=journey.redis.llen("rq:queue:notify"))  # the relay's hand-off: fan the events out
    queued = journey.scrape()
    # per booking: client webhooks and email on notify, the calendar write on sync
    assert value(queued, "hub_queue_jobs", queue="notify") == 4
    assert value(queued, "hub_queue_jobs", queue="sync") == 2
    assert value(queued, "hub_queue_jobs", queue="default") == 1
    assert value(queued, "hub_queue_jobs", queue="push") == 0
    assert value(queued, "hub_queue_oldest_job_age_seconds", queue="notify") > 0
    assert value(queued, "hub_queue_oldest_job_age_seconds", queue="push") == 0

    journey.run_jobs()
    wait_for(lambda: len(journey.receiver.requests) == 2, 10, "both client webhooks")
    after = journey.scrape()

    assert delta(before, after, "hub_bookings_total", outcome="created") == 2
    assert delta(before, after, "hub_bookings_total", outcome="conflict") == 1
    assert delta(before, after, "hub_bookings_total", outcome="rejected") == 1
    assert delta(before, after, "hub_bookings_total", outcome="error") == 0
    assert delta(before, after, "hub_webhook_notifications_total", provider="google", result="unknown") == 1
    assert delta(before, after, "hub_webhook_notifications_total", provider="google", result="rejected") == 1
    assert delta(before, after, "hub_webhook_deliveries_total", result="succeeded") == 2
    assert delta(before, after, "hub_webhook_deliveries_total", result="failed") == 0
    assert delta(before, after, "hub_jobs_total", kind="webhooks.deliver", outcome="succeeded") == 2
    assert delta(before, after, "hub_jobs_total", kind="outbox.fan_out", outcome="succeeded") >= 1  # one a batch
    assert delta(before, after, "hub_jobs_total", kind="webhooks.fan_out", outcome="succeeded") == 0  # in it
    assert delta(before, after, "hub_jobs_total", kind="email.booking", outcome="succeeded") == 2
    assert delta(before, after, "hub_jobs_total", kind="test.crash", outcome="dead_lettered") == 1
    assert delta(before, after, "hub_job_duration_seconds_count", kind="webhooks.deliver") == 2
    assert delta(before, after, "hub_job_duration_seconds_bucket", kind="webhooks.deliver", le="+Inf") == 2
    assert delta(before, after, "hub_webhook_attempt_duration_seconds_count") == 2
    assert delta(before, after, "hub_email_sends_total", result="sent") == 2  # the host of each booking

    # request latency by route template, never by concrete path
    route = {"method": "POST", "path": "/v1/bookings"}
    assert delta(before, after, "hub_request_duration_seconds_count", status_code="201", **route) == 2
    assert delta(before, after, "hub_request_duration_seconds_count", status_code="409", **route) == 2
    assert value(after, "hub_request_duration_seconds_bucket", status_code="201", le="+Inf", **route) >= 2
    one_booking = {"method": "GET", "path": "/v1/bookings/{booking_id}", "status_code": "200"}
    assert delta(before, after, "hub_requests_total", **one_booking) == 1
    paths = {dict(labels).get("path", "") for (_name, labels) in after}
    assert not any(booking_id in path for path in paths)

    # what is, read at scrape time
    for name in ("notify", "sync", "default", "push"):
        assert value(after, "hub_queue_jobs", queue=name) == 0
    assert value(after, "hub_dead_letter_jobs", queue="default") == 1
    assert value(after, "hub_dead_letter_jobs", queue="notify") == 0
    assert value(after, "hub_connections", provider="google", status="active") == 1
    assert value(after, "hub_connections", provider="google", status="reauth_required") == 1
    assert value(after, "hub_connections", provider="microsoft", status="error") == 1
    assert value(after, "hub_connections", provider="microsoft", status="active") == 0
    assert 1700 < value(after, "hub_push_channel_expiry_horizon_seconds", provider="google") <= 1800
    assert ("hub_push_channel_expiry_horizon_seconds", frozenset({("provider", "microsoft")})) not in after
    assert value(after, "hub_metrics_source_up", source="redis") == 1
    assert value(after, "hub_metrics_source_up", source="database") == 1


def test_a_source_that_does_not_answer_costs_only_its_own_series(journey: Journey) -> None:
    journey.redis_server.stop()
    samples = journey.scrape()
    assert value(samples, "hub_metrics_source_up", source="redis") == 0
    assert value(samples, "hub_metrics_source_up", source="database") == 1
    assert not [name for (name, _labels) in samples if name == "hub_queue_jobs"]
    assert ("hub_connections", frozenset({("provider", "google"), ("status", "active")})) in samples


def test_hub_serve_with_workers_reports_one_set_of_metrics(settings: Settings, db: Database, tmp_path: Path) -> None:
    """``hub serve --workers 2`` keeps its metric files in <data dir>/prometheus, cleared at
    start, so whichever process answers ``/metrics`` reports every process's counts."""
    private = RedisServer(tmp_path / "redis").start()
    stale = tmp_path / "data" / "prometheus" / "counter_12345.db"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left over from an earlier run")
    port = free_port()
    env = {
        **os.environ,
        **hub_env(settings, redis_url=private.url, data_dir=tmp_path / "data", log_level="warning"),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(f"{url}/health"), 60, "hub serve --workers 2")
        assert not stale.exists()
        for _ in range(20):
            assert httpx.get(f"{url}/health").status_code == 200
        scrapes = [httpx.get(f"{url}/metrics").text for _ in range(6)]
        for text in scrapes:
            samples = {
                (s.name, frozenset(s.labels.items())): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }
            health = value(samples, "hub_requests_total", method="GET", path="/health", status_code="200")
            assert health >= 20  # summed over both processes, whichever answered
            assert value(samples, "hub_queue_jobs", queue="notify") == 0
            assert value(samples, "hub_metrics_source_up", source="redis") == 1
        metric_files = list((tmp_path / "data" / "prometheus").glob("*.db"))
        assert metric_files
        assert {stat.S_IMODE(f.stat().st_mode) for f in metric_files} == {0o600}  # private, like the data dir
        assert stat.S_IMODE((tmp_path / "data" / "prometheus").stat().st_mode) == 0o700
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        private.stop()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
