"""Linking a Google account and keeping it in sync, over real HTTP against a local stand-in
for Google's endpoints, with Hub's jobs run by RQ workers on a private Redis."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec
import pytest
from sqlalchemy import func, select, update

from hub.clock import utcnow
from hub.connections.credentials import StoredCredentials
from hub.crypto import keyring_for
from hub.db import Database
from hub.db.tables import Connection, ExternalEvent, InboundNotification, OAuthState, OutboxMessage, SyncRun
from hub.jobs.queues import SYNC, queue
from hub.jobs.runner import enqueue
from hub.settings import Settings
from tests.support.google_standin import push_headers
from tests.support.servers import WebhookReceiver, wait_for
from tests.support.workers import WorkerProcess, hub_env
from tests.support.worlds import REDIRECT, GoogleWorld, google_world

pytestmark = pytest.mark.slow

MONDAY = "2030-12-02"


World = GoogleWorld


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path) -> Iterator[World]:
    """(``db``: the session database, migrated, which the world's server uses.)"""
    with google_world(settings, tmp_path) as built:
        yield built


def slots(world: World, user_id: str) -> list[str]:
    return world.morning_slots(user_id, MONDAY)


def test_linking_journey_and_busy_times_block_slots(world: World) -> None:
    world.google.add_event("busy1", f"{MONDAY}T10:00:00+01:00", f"{MONDAY}T11:00:00+01:00")
    world.google.add_event("free1", f"{MONDAY}T12:00:00+01:00", f"{MONDAY}T13:00:00+01:00", transparency="transparent")
    user = world.host()
    assert slots(world, user["id"]) == ["09:00", "10:00", "11:00", "12:00"]

    connection_id = world.link(user["id"])
    world.run_jobs()  # setup: list calendars, first sync, push channel

    linked = world.connection(connection_id)
    assert linked["status"] == "active"
    assert linked["account_email"] == "ada.host@gmail.com"
    assert [(c["provider_calendar_id"], c["busy_source"], c["booking_target"]) for c in linked["calendars"]] == [
        ("ada.host@gmail.com", True, True)
    ]
    assert linked["push"]["state"] == "active"
    assert linked["last_success_at"] is not None
    assert world.google.watches[0]["address"] == "https://hub.example.test/webhooks/google"

    assert slots(world, user["id"]) == ["09:00", "11:00", "12:00"]  # the transparent event does not block
    clash = world.tenant.client.post(
        "/v1/bookings",
        json={
            "host_id": user["id"],
            "start": f"{MONDAY}T10:30:00",
            "duration_minutes": 30,
            "timezone": "Europe/Berlin",
        },
    )
    assert clash.status_code == 409
    assert clash.json()["code"] == "booking_conflict"
    assert [c["source"] for c in clash.json()["conflicts"]] == ["google"]

    # relinking the same account keeps the connection id
    assert world.link(user["id"]) == connection_id
    audit = world.tenant.client.get("/v1/audit-events").json()["data"]
    assert [e["action"] for e in audit if e["target_id"] == connection_id].count("connection.linked") == 2


def test_forged_reused_and_expired_states_are_refused(world: World) -> None:
    user = world.host()
    callback = f"{world.server.url}/oauth/google/callback"
    forged = httpx.get(callback, params={"state": "made-up", "code": "good-code"})
    assert (forged.status_code, "invalid_state" in forged.text) == (400, True)

    started = world.tenant.client.post(
        f"/v1/users/{user['id']}/connections/google/authorize", json={"redirect_uri": REDIRECT}
    ).json()
    state = parse_qs(urlsplit(started["authorization_url"]).query)["state"][0]
    assert httpx.get(callback, params={"state": state, "code": "good-code"}).status_code == 302
    reused = httpx.get(callback, params={"state": state, "code": "good-code"})
    assert (reused.status_code, "state_already_used" in reused.text) == (400, True)

    started = world.tenant.client.post(
        f"/v1/users/{user['id']}/connections/google/authorize", json={"redirect_uri": REDIRECT}
    ).json()
    state = parse_qs(urlsplit(started["authorization_url"]).query)["state"][0]
    with world.db.write() as session:
        session.execute(
            update(OAuthState)
            .where(OAuthState.used_at.is_(None), OAuthState.user_id == user["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    expired = httpx.get(callback, params={"state": state, "code": "good-code"})
    assert (expired.status_code, "state_expired" in expired.text) == (400, True)

    denied_start = world.tenant.client.post(
        f"/v1/users/{user['id']}/connections/google/authorize", json={"redirect_uri": REDIRECT}
    ).json()
    state = parse_qs(urlsplit(denied_start["authorization_url"]).query)["state"][0]
    denied = httpx.get(callback, params={"state": state, "error": "access_denied"})
    assert denied.status_code == 302
    assert parse_qs(urlsplit(denied.headers["location"]).query) == {"error": ["access_denied"]}


def test_unconfigured_provider_and_unknown_provider(world: World, settings: Settings) -> None:
    user = world.host()
    missing = world.tenant.client.post(
        f"/v1/users/{user['id']}/connections/microsoft/authorize", json={"redirect_uri": REDIRECT}
    )
    assert missing.status_code == 422
    assert missing.json()["code"] == "provider_not_configured"
    unknown = world.tenant.client.post(
        f"/v1/users/{user['id']}/connections/yahoo/authorize", json={"redirect_uri": REDIRECT}
    )
    assert unknown.status_code == 404


def test_push_storm_is_deduplicated_and_coalesced_and_survives_redis_outage(world: World, tmp_path: Path) -> None:
    user = world.host()
    connection_id = world.link(user["id"])
    world.run_jobs()
    channel = world.google.watches[0]
    url = f"{world.server.url}/webhooks/google"

    sync_queue = queue(SYNC, world.redis)
    numbers = [n for n in range(2, 202) for _ in range(5)]  # 1,000 deliveries of 200 messages
    numbers.reverse()  # out of order
    with httpx.Client() as client:
        for number in numbers:
            answer = client.post(url, headers=push_headers(channel["id"], channel["token"], number))
            assert answer.status_code == 200
    assert len(sync_queue) == 1  # one queued sync for the calendar, however many notifications
    with world.db.read() as session:
        stored = session.scalar(
            select(func.count())
            .select_from(InboundNotification)
            .where(InboundNotification.connection_id == connection_id)
        )
        duplicates = session.scalar(
            select(func.sum(InboundNotification.duplicates)).where(InboundNotification.connection_id == connection_id)
        )
    assert (stored, duplicates) == (200, 800)

    forged = httpx.post(url, headers=push_headers(channel["id"], "not-the-token", 999))
    unknown = httpx.post(url, headers=push_headers("no-such-channel", "x", 1))
    assert (forged.status_code, unknown.status_code) == (403, 200)

    world.google.add_event("later", f"{MONDAY}T09:00:00+01:00", f"{MONDAY}T10:00:00+01:00")
    world.run_jobs()
    runs = world.tenant.client.get(f"/v1/connections/{connection_id}").json()
    assert runs["status"] == "active"
    assert slots(world, user["id"])[0] == "10:00"


def test_expired_sync_token_means_full_resync(world: World) -> None:
    world.google.add_event("a", f"{MONDAY}T10:00:00+01:00", f"{MONDAY}T11:00:00+01:00")
    user = world.host()
    connection_id = world.link(user["id"])
    world.run_jobs()
    world.google.fail_next_sync_token = True
    world.google.cancel_event("a")
    world.google.add_event("b", f"{MONDAY}T12:00:00+01:00", f"{MONDAY}T13:00:00+01:00")
    assert world.tenant.client.post(f"/v1/connections/{connection_id}/sync").status_code == 202
    world.run_jobs()
    with world.db.read() as session:
        run = session.scalars(
            select(SyncRun).where(SyncRun.connection_id == connection_id).order_by(SyncRun.started_at.desc())
        ).first()
        events = list(
            session.scalars(
                select(ExternalEvent.provider_event_id)
                .join(Connection, Connection.user_id == ExternalEvent.user_id)
                .where(Connection.id == connection_id)
            )
        )
    assert run is not None
    assert (run.trigger, run.outcome, run.full) == ("manual", "succeeded", True)
    assert events == ["b"]


def test_rate_limit_waits_and_recovers(world: World) -> None:
    user = world.host()
    connection_id = world.link(user["id"])
    world.google.rate_limit_next = 1
    world.run_jobs()
    linked = world.connection(connection_id)
    assert linked["status"] == "active"
    assert linked["consecutive_failures"] == 0


def test_throttling_that_outlasts_the_in_call_retries_is_rate_limited_on_the_connection(world: World) -> None:
    user = world.host()
    connection_id = world.link(user["id"])
    world.run_jobs()
    world.google.rate_limit_next = 4  # every in-call attempt of the requested sync is throttled
    assert world.tenant.client.post(f"/v1/connections/{connection_id}/sync").status_code == 202
    world.run_jobs()
    throttled = world.connection(connection_id)
    assert throttled["status"] == "active"  # retried later by the queue
    assert throttled["consecutive_failures"] == 1
    # the same code as for the other provider; the provider's own beside it
    assert throttled["last_error"]["code"] == "rate_limited"
    assert throttled["last_error"]["provider_code"] == "rateLimitExceeded"


def test_revoked_grant_marks_reauth_required_and_tells_the_client(world: World) -> None:
    user = world.host()
    with WebhookReceiver() as receiver:
        endpoint = world.tenant.client.post(
            "/v1/webhook-endpoints", json={"url": receiver.url, "events": ["connection.reauth_required"]}
        )
        assert endpoint.status_code == 201, endpoint.text
        connection_id = world.link(user["id"])
        world.run_jobs()
        world.google.revoked = True
        _expire_access_token(world, connection_id)
        world.tenant.client.post(f"/v1/connections/{connection_id}/sync")
        world.run_jobs()
        world.run_jobs()
        broken = world.connection(connection_id)
        assert broken["status"] == "reauth_required"
        assert broken["last_error"]["code"] == "reauth_required"  # Hub's code, whichever provider
        assert broken["last_error"]["provider_code"] == "invalid_grant"  # the provider's, for support
        wait_for(lambda: len(receiver.requests) >= 1, 10, "the connection.reauth_required webhook")
        body = msgspec.json.decode(receiver.requests[0]["body"])
        assert (body["type"], body["data"]["id"], body["data"]["status"]) == (
            "connection.reauth_required",
            connection_id,
            "reauth_required",
        )
        assert body["data"]["last_error"]["provider_code"] == "invalid_grant"
        # no more retries: another sync request is skipped, not retried
        world.tenant.client.post(f"/v1/connections/{connection_id}/sync")
        world.run_jobs()
        assert len(receiver.requests) == 1


def _expire_access_token(world: World, connection_id: str) -> None:
    """Age the stored access token so the next call has to use the (revoked) refresh token."""
    with world.db.read() as session:
        row = session.get(Connection, connection_id)
    assert row is not None
    store = StoredCredentials(world.db, keyring_for(world.settings), row)
    credentials = store.get()
    credentials["expiry"] = "2000-01-01T00:00:00+00:00"
    store.save(credentials)


def test_booking_writes_one_event_and_cancel_deletes_it(world: World) -> None:
    user = world.host()
    world.link(user["id"])
    world.run_jobs()
    created = world.tenant.client.post(
        "/v1/bookings",
        json={
            "host_id": user["id"],
            "start": f"{MONDAY}T09:00:00",
            "duration_minutes": 30,
            "timezone": "Europe/Berlin",
            "title": "Intro call",
        },
    )
    assert created.status_code == 201
    world.run_jobs()
    assert len(world.google.inserts) == 1
    inserted = world.google.inserts[0]
    assert inserted["extendedProperties"]["private"]["hub_booking_id"] == created.json()["id"]

    with world.db.read() as session:
        outbox_id = session.scalar(
            select(OutboxMessage.id).where(
                OutboxMessage.aggregate_id == created.json()["id"], OutboxMessage.event_type == "booking.created"
            )
        )
    enqueue(world.redis, "hub.connections.jobs.write_booking", str(outbox_id))  # the insert job runs twice
    world.run_jobs()
    assert len(world.google.inserts) == 1

    cancelled = world.tenant.client.post(f"/v1/bookings/{created.json()['id']}/cancel", json={"reason": "moved"})
    assert cancelled.status_code == 200
    world.run_jobs()
    assert world.google.deletes == [inserted["id"]]


def test_unlink_stops_push_revokes_and_keeps_history(world: World) -> None:
    user = world.host()
    connection_id = world.link(user["id"])
    world.run_jobs()
    unlinked = world.tenant.client.delete(f"/v1/connections/{connection_id}")
    assert unlinked.status_code == 200
    assert unlinked.json()["status"] == "revoked"
    world.run_jobs()
    assert world.google.revoked
    assert [s["id"] for s in world.google.stopped] == [world.google.watches[0]["id"]]
    assert world.connection(connection_id)["status"] == "revoked"
    with world.db.read() as session:
        assert (
            session.scalar(select(func.count()).select_from(SyncRun).where(SyncRun.connection_id == connection_id)) >= 1
        )
    actions = [
        e["action"]
        for e in world.tenant.client.get("/v1/audit-events").json()["data"]
        if e["target_id"] == connection_id
    ]
    assert "connection.revoked" in actions


def test_end_to_end_with_a_real_worker_process(world: World, tmp_path: Path) -> None:
    world.google.add_event("busy1", f"{MONDAY}T10:00:00+01:00", f"{MONDAY}T11:00:00+01:00")
    env = hub_env(world.settings)
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        user = world.host()
        connection_id = world.link(user["id"])
        wait_for(lambda: world.connection(connection_id)["last_success_at"] is not None, 60, "the first sync")
        assert slots(world, user["id"]) == ["09:00", "11:00", "12:00"]
        created = world.tenant.client.post(
            "/v1/bookings",
            json={
                "host_id": user["id"],
                "start": f"{MONDAY}T11:00:00",
                "duration_minutes": 60,
                "timezone": "Europe/Berlin",
            },
        )
        assert created.status_code == 201
        wait_for(lambda: len(world.google.inserts) == 1, 60, "the booking in Google Calendar")
        # the push channel is opened by a job on the push queue, which the worker takes after
        # the sync queue's: it may still be on its way when the booking is already written
        wait_for(lambda: len(world.google.watches) == 1, 60, "the push channel")
        channel = world.google.watches[0]
        world.google.add_event("busy2", f"{MONDAY}T12:00:00+01:00", f"{MONDAY}T13:00:00+01:00")
        httpx.post(f"{world.server.url}/webhooks/google", headers=push_headers(channel["id"], channel["token"], 2))
        wait_for(lambda: slots(world, user["id"]) == ["09:00"], 60, "the pushed change to block its slot")
    finally:
        worker.kill(signal.SIGTERM)
