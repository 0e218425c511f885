"""Linking a Microsoft 365 / Outlook account and keeping it in sync, over real HTTP(S) against a
local stand-in for Entra ID and Microsoft Graph, with Hub's jobs run by RQ workers on a private
Redis. The stand-in plays Graph's side of change notifications too: it runs the validation
handshake against Hub when a subscription is created and POSTs notifications to Hub's webhook.

The provider facts checked here are PROTOCOLS.md sections D (subscriptions, validation,
notifications, lifecycle events), E (calendarView delta, events, transactionId, errors and
throttling) and F (the v2.0 auth-code flow with PKCE, MSAL's nonce and client_info, invalid_grant).
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import msgspec
import pytest
from sqlalchemy import event, func, select, update

from hub.clock import utcnow
from hub.connections.credentials import StoredCredentials
from hub.crypto import keyring_for
from hub.db import Database
from hub.db.tables import (
    BookingEvent,
    Calendar,
    Connection,
    ExternalEvent,
    InboundNotification,
    OAuthState,
    OutboxMessage,
    PushChannel,
    SyncRun,
)
from hub.jobs.queues import SYNC, queue
from hub.jobs.runner import enqueue
from hub.settings import Settings
from tests.support.graph_standin import ACCOUNT_EMAIL, CALENDAR_ID, USER_ID
from tests.support.servers import LiveServer, WebhookReceiver, wait_for
from tests.support.workers import WorkerProcess, hub_env
from tests.support.worlds import PUBLIC_URL, MicrosoftWorld, microsoft_world

pytestmark = pytest.mark.slow

CALLBACK = f"{PUBLIC_URL}/oauth/microsoft/callback"
WEBHOOK = f"{PUBLIC_URL}/webhooks/microsoft"
BERLIN = ZoneInfo("Europe/Berlin")


def _monday() -> date:
    """A Monday two to three weeks ahead: inside the connector's delta window (now-30d..now+365d),
    which the stand-in applies like calendarView does."""
    soon = datetime.now(UTC).date() + timedelta(days=14)
    return soon + timedelta(days=(7 - soon.weekday()) % 7)


DAY = _monday()
MONDAY = DAY.isoformat()


def at(hour: int, minute: int = 0) -> datetime:
    """``hour:minute`` on MONDAY in Berlin (the host's zone), as an aware datetime."""
    return datetime.combine(DAY, clock_time(hour, minute), tzinfo=BERLIN)


World = MicrosoftWorld


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """(``db``: the session database, migrated, which the world's server uses.)"""
    with microsoft_world(settings, tmp_path, monkeypatch) as built:
        yield built


def slots(world: World, user_id: str) -> list[str]:
    return world.morning_slots(user_id, MONDAY)


def book(world: World, user_id: str, start: str, minutes: int, **extra: Any) -> httpx.Response:
    return world.tenant.client.post(
        "/v1/bookings",
        json={
            "host_id": user_id,
            "start": f"{MONDAY}T{start}:00",
            "duration_minutes": minutes,
            "timezone": "Europe/Berlin",
            **extra,
        },
    )


def sync_runs(world: World, connection_id: str) -> list[SyncRun]:
    with world.db.read() as session:
        return list(
            session.scalars(select(SyncRun).where(SyncRun.connection_id == connection_id).order_by(SyncRun.started_at))
        )


def inbox(world: World, connection_id: str) -> tuple[int, int]:
    """(rows, duplicates counted) in the notification inbox for the connection."""
    with world.db.read() as session:
        rows = session.scalar(
            select(func.count())
            .select_from(InboundNotification)
            .where(InboundNotification.connection_id == connection_id)
        )
        duplicates = session.scalar(
            select(func.coalesce(func.sum(InboundNotification.duplicates), 0)).where(
                InboundNotification.connection_id == connection_id
            )
        )
    return int(rows or 0), int(duplicates or 0)


def channels(world: World, connection_id: str) -> list[PushChannel]:
    with world.db.read() as session:
        return list(
            session.scalars(
                select(PushChannel).where(PushChannel.connection_id == connection_id).order_by(PushChannel.created_at)
            )
        )


def graph_calls(world: World, method: str, fragment: str) -> list[dict[str, Any]]:
    return [r for r in world.graph.requests if r["method"] == method and fragment in r["path"]]


# --- linking -------------------------------------------------------------------------------------


def test_linking_journey_and_busy_times_block_slots(world: World) -> None:
    world.graph.add_event("busy1", at(10), at(11), subject="1:1")
    world.graph.add_event("free1", at(12), at(13), show_as="free")  # showAs free does not block
    world.graph.add_event("gone1", at(9), at(10), is_cancelled=True)  # a cancelled meeting does not block
    user = world.host()
    assert slots(world, user["id"]) == ["09:00", "10:00", "11:00", "12:00"]

    world.graph.page_size = 1  # one event per delta page: Hub follows @odata.nextLink to the deltaLink
    connection_id = world.link(user["id"])
    # F: MSAL's auth-code flow: PKCE S256, a nonce, client_info=1, reserved scopes added by MSAL
    authorize = world.graph.authorizations[0]
    assert authorize["code_challenge_method"] == "S256"
    assert authorize["redirect_uri"] == CALLBACK
    assert authorize["nonce"]
    assert {"Calendars.ReadWrite", "User.Read", "openid", "profile", "offline_access"} <= set(
        authorize["scope"].split()
    )
    redeem = world.graph.token_requests[0]
    assert (redeem["grant_type"], redeem["redirect_uri"], redeem["client_info"]) == (
        "authorization_code",
        CALLBACK,
        "1",
    )
    assert len(redeem["code_verifier"]) >= 43  # the stand-in checked it against the S256 challenge

    world.run_jobs()  # setup: list calendars, first delta sync, subscription

    linked = world.connection(connection_id)
    assert linked["status"] == "active"
    assert linked["provider"] == "microsoft"
    assert linked["account_email"] == ACCOUNT_EMAIL  # GET /me's mail
    assert [(c["provider_calendar_id"], c["busy_source"], c["booking_target"]) for c in linked["calendars"]] == [
        (CALENDAR_ID, True, True)
    ]
    assert linked["push"]["state"] == "active"
    assert linked["last_success_at"] is not None
    with world.db.read() as session:
        row = session.get(Connection, connection_id)
        assert row is not None
        assert row.account_id == USER_ID
        cursor = session.scalar(select(Calendar.sync_cursor).where(Calendar.connection_id == connection_id))

    # E: the first delta call names the window; the delta link Graph returned is the cursor
    first = graph_calls(world, "GET", "/calendarView/delta")[0]
    assert first["path"] == f"/v1.0/me/calendars/{CALENDAR_ID}/calendarView/delta"
    assert {"startDateTime", "endDateTime"} <= set(first["query"])
    pages = graph_calls(world, "GET", "/calendarView/delta")
    assert ["$skiptoken" in p["query"] for p in pages] == [False, True, True]
    assert cursor is not None
    assert cursor.startswith(f"{world.graph.graph_url}/me/calendars/")
    assert "$deltatoken=" in cursor

    # D: one subscription on /me/events, Hub's HTTPS address for both URLs, a clientState
    (request,) = world.graph.subscription_requests
    assert request["resource"] == "/me/events"
    assert set(request["changeType"].split(",")) == {"created", "updated", "deleted"}
    assert request["notificationUrl"] == WEBHOOK
    assert request["lifecycleNotificationUrl"] == WEBHOOK
    assert 0 < len(request["clientState"]) <= 128
    expires = datetime.fromisoformat(request["expirationDateTime"].replace("Z", "+00:00"))
    assert timedelta(minutes=45) < expires - datetime.now(UTC) <= timedelta(minutes=4230)
    # Graph validated both URLs against Hub before creating the subscription
    assert [v["ok"] for v in world.graph.validations] == [True, True]
    assert all(v["seconds"] < 3 for v in world.graph.validations)
    assert channels(world, connection_id)[0].channel_id == world.graph.active_subscription()["id"]

    assert slots(world, user["id"]) == ["09:00", "11:00", "12:00"]
    clash = book(world, user["id"], "10:30", 30)
    assert clash.status_code == 409
    assert clash.json()["code"] == "booking_conflict"
    assert [c["source"] for c in clash.json()["conflicts"]] == ["microsoft"]

    # relinking the same account keeps the connection id
    assert world.link(user["id"]) == connection_id
    audit = world.tenant.client.get("/v1/audit-events").json()["data"]
    assert [e["action"] for e in audit if e["target_id"] == connection_id].count("connection.linked") == 2


def test_forged_reused_and_expired_states_are_refused(world: World) -> None:
    user = world.host()
    good = world.consent(world.authorize(user["id"]))
    forged = world.callback({**good, "state": "made-up"})
    assert (forged.status_code, "invalid_state" in forged.text) == (400, True)

    params = world.consent(world.authorize(user["id"]))
    assert world.callback(params).status_code == 302
    reused = world.callback(params)
    assert (reused.status_code, "state_already_used" in reused.text) == (400, True)

    params = world.consent(world.authorize(user["id"]))
    with world.db.write() as session:
        session.execute(
            update(OAuthState)
            .where(OAuthState.used_at.is_(None), OAuthState.user_id == user["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    expired = world.callback(params)
    assert (expired.status_code, "state_expired" in expired.text) == (400, True)

    world.graph.deny_next_consent = True
    denied = world.callback(world.consent(world.authorize(user["id"])))
    assert denied.status_code == 302
    assert parse_qs(urlsplit(denied.headers["location"]).query) == {"error": ["access_denied"]}

    # an id_token minted for another sign-in (its nonce is not this flow's) links nothing
    world.graph.wrong_nonce_next = True
    replayed = world.callback(world.consent(world.authorize(user["id"])))
    assert replayed.status_code == 302
    assert parse_qs(urlsplit(replayed.headers["location"]).query) == {"error": ["oauth_nonce_mismatch"]}
    listed = world.tenant.client.get("/v1/connections", params={"user_id": user["id"]}).json()["data"]
    assert len(listed) == 1  # only the one link that went through


# --- change notifications --------------------------------------------------------------------


def test_validation_handshake_is_answered_fast_with_the_decoded_token(world: World) -> None:
    # D: graph_validation_request.json, the doc's form-encoded token
    token = (
        "Validation: Testing client application reachability for subscription Request-Id: "
        "3b3f9821-ce3f-4c9e-8c1a-0d3e4f5a6b7c"
    )
    encoded = (
        "Validation%3A+Testing+client+application+reachability+for+subscription+Request-Id%3A+"
        "3b3f9821-ce3f-4c9e-8c1a-0d3e4f5a6b7c"
    )
    started = time.perf_counter()
    answer = httpx.post(
        f"{world.server.url}/webhooks/microsoft?validationToken={encoded}",
        content=b"",
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
    elapsed = time.perf_counter() - started
    assert answer.status_code == 200
    assert answer.headers["content-type"].split(";")[0] == "text/plain"
    assert answer.text == token  # URL-decoded: "If the client returns an encoded validation token, it fails"
    assert answer.headers["x-content-type-options"] == "nosniff"  # the echo is never taken for HTML
    assert elapsed < 1.0  # Graph allows 10 s for the handshake and 3 s for notifications


def test_a_validation_token_is_echoed_up_to_1024_characters_only(world: World) -> None:
    url = f"{world.server.url}/webhooks/microsoft"
    longest = httpx.post(url, params={"validationToken": "Validation: " + "ü" * 1012}, content=b"")
    assert (longest.status_code, longest.text) == (200, "Validation: " + "ü" * 1012)  # 1,024 characters

    script = "<script>alert(1)</script>" * 41  # 1,025 characters
    refused = httpx.post(url, params={"validationToken": script}, content=b"")
    assert refused.status_code == 400
    assert refused.headers["content-type"].split(";")[0] == "text/plain"
    assert refused.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in refused.text
    assert refused.text == "validationToken is longer than 1024 characters"


def test_a_hub_without_microsoft_answers_no_handshake(live_server: LiveServer) -> None:
    settings = live_server.app.state.settings
    assert not (settings.microsoft_client_id and settings.microsoft_client_secret)
    answer = httpx.post(
        f"{live_server.url}/webhooks/microsoft",
        params={"validationToken": "Validation: Testing client application reachability"},
        content=b"",
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "not_found"
    assert "reachability" not in answer.text  # nothing of the token comes back
    notification = httpx.post(f"{live_server.url}/webhooks/microsoft", json={"value": [{"subscriptionId": "s"}]})
    assert notification.status_code == 404  # no intake at all, not only no handshake


def test_change_notifications_are_coalesced_and_deduplicated(world: World) -> None:
    world.graph.add_event("busy1", at(10), at(11))
    user = world.host()
    connection_id = world.link(user["id"])
    world.run_jobs()
    assert slots(world, user["id"]) == ["09:00", "11:00", "12:00"]
    sync_queue = queue(SYNC, world.redis)
    assert len(sync_queue) == 0

    # ten changes in the mailbox: busy1 deleted, an early meeting, eight in the afternoon
    world.graph.delete_event("busy1")
    world.graph.add_event("early", at(9), at(10))
    for n in range(8):
        world.graph.add_event(f"late{n}", at(14 + n % 3), at(15 + n % 3))
    items = [world.graph.change_item("deleted", "busy1"), world.graph.change_item("created", "early")]
    items += [world.graph.change_item("created", f"late{n}") for n in range(8)]

    batch = world.graph.deliver(items)  # one POST may carry several notifications
    assert batch.status_code == 202
    for item in reversed(items):  # Graph redelivers each, out of order
        for _ in range(2):
            assert world.graph.deliver([item]).status_code == 202
    assert len(sync_queue) == 1  # one queued sync, however many notifications
    assert inbox(world, connection_id) == (10, 20)

    before = len(sync_runs(world, connection_id))
    world.run_jobs()
    runs = sync_runs(world, connection_id)
    assert len(runs) == before + 1
    assert (runs[-1].trigger, runs[-1].outcome, runs[-1].full) == ("webhook", "succeeded", False)
    incremental = graph_calls(world, "GET", "/calendarView/delta")[-1]
    assert "$deltatoken" in incremental["query"]  # the delta link, as-is
    assert slots(world, user["id"]) == ["10:00", "11:00", "12:00"]  # busy1 @removed, early is busy
    with world.db.read() as session:
        stored = set(
            session.scalars(select(ExternalEvent.provider_event_id).where(ExternalEvent.user_id == user["id"]))
        )
    assert stored == {"early", *(f"late{n}" for n in range(8))}


def test_a_wrong_client_state_is_refused_and_nothing_is_queued(world: World) -> None:
    world.graph.add_event("busy1", at(10), at(11))
    user = world.host()
    connection_id = world.link(user["id"])
    world.run_jobs()
    sync_queue = queue(SYNC, world.redis)
    assert len(sync_queue) == 0

    forged = world.graph.deliver([world.graph.change_item("updated", "busy1", client_state="not-the-secret")])
    assert forged.status_code == 403
    assert len(sync_queue) == 0
    assert inbox(world, connection_id) == (0, 0)

    # a batch mixing a forged and a genuine notification: only the genuine one counts
    world.graph.add_event("busy2", at(11), at(12))
    mixed = world.graph.deliver(
        [
            world.graph.change_item("created", "busy2", client_state="not-the-secret"),
            world.graph.change_item("created", "busy2"),
        ]
    )
    assert mixed.status_code == 202
    assert inbox(world, connection_id) == (1, 0)
    assert len(sync_queue) == 1


@contextmanager
def channel_lookups(db: Database) -> Iterator[list[str]]:
    """The SELECTs on push_channels that run while the block runs (the live server shares ``db``)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if "push_channels" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    engines = {db.engine, db.write_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


def unknown_items(count: int) -> list[dict[str, Any]]:
    """Notifications for subscriptions nobody created, as anyone on the internet can send them."""
    return [{"subscriptionId": f"u-{n:04d}", "clientState": "guess"} for n in range(count)]


def test_a_batch_costs_one_channel_lookup_however_many_notifications_it_carries(world: World) -> None:
    world.graph.add_event("busy1", at(10), at(11))
    user = world.host()
    connection_id = world.link(user["id"])
    world.run_jobs()
    sync_queue = queue(SYNC, world.redis)
    world.graph.add_event("busy2", at(11), at(12))
    genuine = world.graph.change_item("created", "busy2")
    forged = world.graph.change_item("updated", "busy1", client_state="not-the-secret")
    batch = [*unknown_items(499), forged, genuine, *unknown_items(499)]  # 1,000: the most one request may carry

    with channel_lookups(world.db) as lookups:
        answer = world.graph.deliver(batch, url=WEBHOOK)
    assert answer.status_code == 202
    assert len(lookups) == 1
    # each item was still verified on its own: only the genuine one is stored and syncs
    assert inbox(world, connection_id) == (1, 0)
    assert len(sync_queue) == 1

    with channel_lookups(world.db) as lookups:
        again = world.graph.deliver(batch, url=WEBHOOK)  # Graph's redelivery of the same batch
    assert (again.status_code, len(lookups)) == (202, 1)
    assert inbox(world, connection_id) == (1, 1)  # counted as a duplicate, not stored twice


def test_a_batch_of_more_than_1000_notifications_is_refused_before_any_lookup(world: World) -> None:
    user = world.host()
    connection_id = world.link(user["id"])
    world.run_jobs()
    world.graph.add_event("busy2", at(11), at(12))
    batch = [world.graph.change_item("created", "busy2"), *unknown_items(1000)]
    with channel_lookups(world.db) as lookups:
        answer = world.graph.deliver(batch, url=WEBHOOK)
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert (problem["code"], problem["status"]) == ("payload_too_large", 413)
    assert "at most 1000 notifications" in problem["detail"]
    assert lookups == []
    assert inbox(world, connection_id) == (0, 0)
    assert len(queue(SYNC, world.redis)) == 0


def test_lifecycle_events_renew_recreate_and_resync(world: World) -> None:
    user = world.host()
    connection_id = world.link(user["id"])
    world.run_jobs()
    first = world.graph.active_subscription()

    # reauthorizationRequired: PATCH the subscription (renews and reauthorizes), then delta
    runs = len(sync_runs(world, connection_id))
    answer = world.graph.deliver([world.graph.lifecycle_item("reauthorizationRequired")])
    assert answer.status_code == 202
    world.run_jobs()
    assert [(sid, set(body)) for sid, body in world.graph.subscription_patches] == [
        (first["id"], {"expirationDateTime"})
    ]
    assert world.graph.active_subscription()["id"] == first["id"]
    (channel,) = channels(world, connection_id)
    assert channel.status == "active"
    renewed = datetime.fromisoformat(
        world.graph.subscription_patches[0][1]["expirationDateTime"].replace("Z", "+00:00")
    )
    assert abs(channel.expires_at - renewed) < timedelta(seconds=1)
    assert len(sync_runs(world, connection_id)) == runs + 1

    # missed: some notifications never came; the sync that follows finds the change
    world.graph.add_event("unnoticed", at(9), at(10))
    answer = world.graph.deliver([world.graph.lifecycle_item("missed")])
    assert answer.status_code == 202
    world.run_jobs()
    latest = sync_runs(world, connection_id)
    assert len(latest) == runs + 2
    assert (latest[-1].trigger, latest[-1].outcome) == ("webhook", "succeeded")
    assert slots(world, user["id"])[0] == "10:00"

    # subscriptionRemoved: Graph dropped it; Hub creates a new one and resyncs
    removed = world.graph.remove_subscription()
    answer = world.graph.deliver([world.graph.lifecycle_item("subscriptionRemoved", subscription=removed)])
    assert answer.status_code == 202
    world.run_jobs()
    second = world.graph.active_subscription()
    assert second["id"] != first["id"]
    assert len(world.graph.subscription_requests) == 2
    assert second["notificationUrl"] == WEBHOOK
    assert [(c.channel_id, c.status) for c in channels(world, connection_id)] == [
        (first["id"], "stopped"),
        (second["id"], "active"),
    ]
    assert len(sync_runs(world, connection_id)) == runs + 3
    # the new subscription's clientState verifies
    world.graph.add_event("after", at(12), at(13))
    assert world.graph.deliver([world.graph.change_item("created", "after")]).status_code == 202
    assert len(queue(SYNC, world.redis)) == 1


def test_rejected_delta_token_means_full_resync(world: World) -> None:
    world.graph.add_event("a", at(10), at(11))
    user = world.host()
    connection_id = world.link(user["id"])
    world.run_jobs()
    world.graph.expire_delta_tokens_once = True
    world.graph.delete_event("a")
    world.graph.add_event("b", at(12), at(13))
    assert world.tenant.client.post(f"/v1/connections/{connection_id}/sync").status_code == 202
    world.run_jobs()
    gone = [r for r in graph_calls(world, "GET", "/calendarView/delta") if r["status"] == 410]
    assert len(gone) == 1
    assert "$deltatoken" in gone[0]["query"]
    run = sync_runs(world, connection_id)[-1]
    assert (run.trigger, run.outcome, run.full) == ("manual", "succeeded", True)
    with world.db.read() as session:
        events = list(
            session.scalars(select(ExternalEvent.provider_event_id).where(ExternalEvent.user_id == user["id"]))
        )
    assert events == ["b"]
    assert slots(world, user["id"]) == ["09:00", "10:00", "11:00"]


def test_rate_limit_waits_and_recovers(world: World) -> None:
    user = world.host()
    connection_id = world.link(user["id"])
    world.graph.throttle_next = 1  # the first Graph call of the setup gets 429, Retry-After: 1.5
    world.run_jobs()
    linked = world.connection(connection_id)
    assert linked["status"] == "active"
    assert linked["consecutive_failures"] == 0
    assert linked["push"]["state"] == "active"
    throttled = next(i for i, r in enumerate(world.graph.requests) if r["status"] == 429)
    refused = world.graph.requests[throttled]
    retried = next(
        r
        for r in world.graph.requests[throttled + 1 :]
        if (r["method"], r["path"]) == (refused["method"], refused["path"])
    )
    assert retried["status"] == 200
    assert retried["at"] - refused["at"] >= 1.5  # the fractional Retry-After was honoured


def test_throttling_that_outlasts_the_in_call_retries_is_rate_limited_on_the_connection(world: World) -> None:
    user = world.host()
    connection_id = world.link(user["id"])
    world.run_jobs()
    world.graph.throttle_next = 4  # every in-call attempt of the requested sync is throttled
    assert world.tenant.client.post(f"/v1/connections/{connection_id}/sync").status_code == 202
    world.run_jobs()
    throttled = world.connection(connection_id)
    assert throttled["status"] == "active"  # retried later by the queue
    assert throttled["consecutive_failures"] == 1
    # the same code as for the other provider; the provider's own beside it
    assert throttled["last_error"]["code"] == "rate_limited"
    assert throttled["last_error"]["provider_code"] == "TooManyRequests"


def test_revoked_grant_marks_reauth_required_and_tells_the_client(world: World) -> None:
    user = world.host()
    with WebhookReceiver() as receiver:
        endpoint = world.tenant.client.post(
            "/v1/webhook-endpoints", json={"url": receiver.url, "events": ["connection.reauth_required"]}
        )
        assert endpoint.status_code == 201, endpoint.text
        connection_id = world.link(user["id"])
        world.run_jobs()

        # a routine refresh first: Entra rotates the refresh token and Hub keeps the new one
        _expire_access_token(world, connection_id)
        world.tenant.client.post(f"/v1/connections/{connection_id}/sync")
        world.run_jobs()
        assert [f["grant_type"] for f in world.graph.token_requests] == ["authorization_code", "refresh_token"]
        assert world.connection(connection_id)["status"] == "active"
        assert _cached_refresh_tokens(world, connection_id) == {world.graph.last_refresh_token}

        world.graph.revoked = True
        _expire_access_token(world, connection_id)
        world.tenant.client.post(f"/v1/connections/{connection_id}/sync")
        world.run_jobs()
        world.run_jobs()
        refreshes = [f for f in world.graph.token_requests if f["grant_type"] == "refresh_token"]
        assert len(refreshes) == 2
        broken = world.connection(connection_id)
        assert broken["status"] == "reauth_required"
        assert broken["last_error"]["code"] == "reauth_required"  # Hub's code, whichever provider
        assert broken["last_error"]["provider_code"] == "invalid_grant"  # the provider's, for support
        assert "AADSTS70008" in broken["last_error"]["message"]  # from error_codes, not the text
        wait_for(lambda: len(receiver.requests) >= 1, 10, "the connection.reauth_required webhook")
        body = msgspec.json.decode(receiver.requests[0]["body"])
        assert (body["type"], body["data"]["id"], body["data"]["status"]) == (
            "connection.reauth_required",
            connection_id,
            "reauth_required",
        )
        # no more retries: nothing is scheduled, and another sync request is skipped, not retried
        assert queue(SYNC, world.redis).scheduled_job_registry.count == 0
        world.tenant.client.post(f"/v1/connections/{connection_id}/sync")
        world.run_jobs()
        assert len(receiver.requests) == 1
        assert len([f for f in world.graph.token_requests if f["grant_type"] == "refresh_token"]) == 2


def _stored_credentials(world: World, connection_id: str) -> StoredCredentials:
    with world.db.read() as session:
        row = session.get(Connection, connection_id)
    assert row is not None
    return StoredCredentials(world.db, keyring_for(world.settings), row)


def _cached_refresh_tokens(world: World, connection_id: str) -> set[str]:
    cache = json.loads(_stored_credentials(world, connection_id).get()["token_cache"])
    return {entry["secret"] for entry in cache["RefreshToken"].values()}


def _expire_access_token(world: World, connection_id: str) -> None:
    """Age the cached access token in MSAL's stored cache so the next call must use the refresh token."""
    store = _stored_credentials(world, connection_id)
    credentials = store.get()
    cache = json.loads(credentials["token_cache"])
    assert cache["AccessToken"], "no access token cached"
    past = str(int(time.time()) - 60)
    for entry in cache["AccessToken"].values():
        entry["expires_on"] = entry["extended_expires_on"] = past
        entry.pop("refresh_on", None)
    credentials["token_cache"] = json.dumps(cache)
    store.save(credentials)


# --- writing bookings --------------------------------------------------------------------------


def test_booking_writes_one_event_and_cancel_deletes_it(world: World) -> None:
    user = world.host()
    world.link(user["id"])
    world.run_jobs()
    world.graph.drop_next_create_response = True  # Graph creates it, the answer is lost: Hub retries
    created = book(world, user["id"], "09:00", 30, title="Intro call")
    assert created.status_code == 201, created.text
    booking_id = created.json()["id"]
    world.run_jobs()

    assert len(world.graph.creates) == 2  # the lost answer was retried...
    assert {c["transactionId"] for c in world.graph.creates} == {f"hub-{booking_id}"}
    (event,) = [e for e in world.graph.live_events() if e.get("transactionId") == f"hub-{booking_id}"]  # ...once
    body = world.graph.creates[0]
    assert body["subject"] == "Intro call"
    assert body["start"] == {"dateTime": f"{MONDAY}T09:00:00", "timeZone": "Europe/Berlin"}
    assert body["end"] == {"dateTime": f"{MONDAY}T09:30:00", "timeZone": "Europe/Berlin"}
    assert body["showAs"] == "busy"
    assert [p["value"] for p in body["singleValueExtendedProperties"]] == [booking_id]
    assert any(booking_id in q.get("$filter", "") for q in world.graph.lookups)  # the duplicate look-up
    with world.db.read() as session:
        written = list(session.scalars(select(BookingEvent).where(BookingEvent.booking_id == booking_id)))
        outbox_id = session.scalar(
            select(OutboxMessage.id).where(
                OutboxMessage.aggregate_id == booking_id, OutboxMessage.event_type == "booking.created"
            )
        )
    assert [(w.status, w.provider_event_id) for w in written] == [("written", event["id"])]

    enqueue(world.redis, "hub.connections.jobs.write_booking", str(outbox_id))  # the write job runs twice
    world.run_jobs()
    assert len(world.graph.creates) == 2
    assert len([e for e in world.graph.live_events() if e.get("transactionId") == f"hub-{booking_id}"]) == 1

    cancelled = world.tenant.client.post(f"/v1/bookings/{booking_id}/cancel", json={"reason": "moved"})
    assert cancelled.status_code == 200
    world.run_jobs()
    assert world.graph.deletes == [event["id"]]
    assert graph_calls(world, "DELETE", "/me/events/")[0]["status"] == 204

    # the host already deleted the next one in Outlook: Graph's 404 itemNotFound means done
    second = book(world, user["id"], "10:00", 30)
    assert second.status_code == 201, second.text
    world.run_jobs()
    (other,) = [e for e in world.graph.live_events() if e.get("transactionId") == f"hub-{second.json()['id']}"]
    world.graph.delete_event(other["id"])
    assert world.tenant.client.post(f"/v1/bookings/{second.json()['id']}/cancel", json={}).status_code == 200
    world.run_jobs()
    assert graph_calls(world, "DELETE", "/me/events/")[-1]["status"] == 404
    with world.db.read() as session:
        states = list(
            session.scalars(select(BookingEvent.status).where(BookingEvent.booking_id == second.json()["id"]))
        )
    assert states == ["deleted"]


def test_unlink_deletes_the_subscription_and_keeps_history(world: World) -> None:
    user = world.host()
    connection_id = world.link(user["id"])
    world.run_jobs()
    subscription = world.graph.active_subscription()
    unlinked = world.tenant.client.delete(f"/v1/connections/{connection_id}")
    assert unlinked.status_code == 200
    assert unlinked.json()["status"] == "revoked"
    world.run_jobs()
    assert world.graph.subscription_deletes == [subscription["id"]]
    assert world.graph.subscriptions == {}
    assert world.connection(connection_id)["status"] == "revoked"
    assert [c.status for c in channels(world, connection_id)] == ["stopped"]
    with world.db.read() as session:
        row = session.get(Connection, connection_id)
        assert row is not None
        assert row.credentials_ciphertext is None
    assert len(sync_runs(world, connection_id)) >= 1
    actions = [
        e["action"]
        for e in world.tenant.client.get("/v1/audit-events").json()["data"]
        if e["target_id"] == connection_id
    ]
    assert "connection.revoked" in actions
    # a late notification for the deleted subscription is acknowledged and queues nothing
    late = world.graph.deliver([world.graph.change_item("deleted", "gone", subscription=subscription)], url=WEBHOOK)
    assert late.status_code == 202
    assert len(queue(SYNC, world.redis)) == 0


# --- the real thing ------------------------------------------------------------------------------


def test_end_to_end_with_a_real_worker_process(world: World, tmp_path: Path) -> None:
    world.graph.add_event("busy1", at(10), at(11))
    env = {**world.graph.worker_env(tmp_path / "site"), **hub_env(world.settings)}
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        user = world.host()
        connection_id = world.link(user["id"])
        wait_for(lambda: world.connection(connection_id)["last_success_at"] is not None, 60, "the first sync")
        assert slots(world, user["id"]) == ["09:00", "11:00", "12:00"]
        created = book(world, user["id"], "11:00", 60)
        assert created.status_code == 201, created.text
        wait_for(lambda: len(world.graph.creates) == 1, 60, "the booking in the Outlook calendar")
        assert world.graph.creates[0]["transactionId"] == f"hub-{created.json()['id']}"
        wait_for(lambda: len(world.graph.subscriptions) == 1, 60, "the Graph subscription")
        world.graph.add_event("busy2", at(12), at(13))
        pushed = world.graph.deliver([world.graph.change_item("created", "busy2")])
        assert pushed.status_code == 202
        wait_for(lambda: slots(world, user["id"]) == ["09:00"], 60, "the pushed change to block its slot")
    finally:
        worker.kill(signal.SIGTERM)
