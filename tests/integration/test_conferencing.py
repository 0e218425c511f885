"""Conferencing links, attendee answers and the host's own changes, end to end: Hub's API on a
live server, its jobs, a real SMTP server, and the Google / Graph stand-ins over HTTP.

* A Meet booking: one conference however often the write is retried, ``pending`` until Google
  finishes it, then ``ready`` with the link, one ``booking.updated``, and one invitation that
  carries the link in its body and its ICS; a reschedule keeps the link.
* Answers and the host's changes: each guest answer is stored and sent once, a move or a delete
  in the host's calendar is flagged once, and Hub's own reschedule is not a change by the host.
* Teams on Graph: ready at once where the calendar allows teamsForBusiness, 422 where it does not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from hub import connections
from hub.db import Database
from hub.db.tables import OutboxMessage, SyncRun, WebhookDelivery
from hub.jobs.context import JobContext
from hub.jobs.queues import SYNC
from hub.jobs.runner import enqueue
from hub.settings import Settings
from tests.connectors.email.helpers import body, parse_calendar
from tests.integration.helpers import BERLIN, MONDAY, assert_problem
from tests.support.smtp import SmtpServer
from tests.support.worlds import GoogleWorld, HubWorld, MicrosoftWorld, google_world, mailing_settings, microsoft_world

pytestmark = pytest.mark.slow

GUEST = "guest@example.com"
EVENTS = ["booking.updated", "booking.attendee_responded", "booking.external_change", "booking.rescheduled"]


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path, smtp_server: SmtpServer) -> Iterator[GoogleWorld]:
    with google_world(settings, tmp_path, **mailing_settings(smtp_server.port)) as built:
        yield built


def linked_host(world: HubWorld) -> dict[str, Any]:
    host = world.host()
    host["connection_id"] = world.link(host["id"])  # type: ignore[attr-defined]
    world.run_jobs()
    endpoint = world.tenant.client.post("/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/h", "events": EVENTS})
    assert endpoint.status_code == 201, endpoint.text
    host["endpoint_id"] = endpoint.json()["id"]
    return host


def ask(world: HubWorld, host: dict[str, Any], start: str = "10:00", **extra: Any) -> httpx.Response:
    """``POST /v1/bookings`` for ``host`` on Monday at ``start`` (Berlin), with ``extra`` fields."""
    return world.tenant.client.post(
        "/v1/bookings",
        json={
            "host_id": host["id"],
            "start": f"{MONDAY}T{start}:00",
            "duration_minutes": 60,
            "timezone": BERLIN,
            "title": "Intro call",
            "attendees": [{"email": GUEST, "name": "Guest One"}],
            **extra,
        },
    )


def book(world: HubWorld, host: dict[str, Any], start: str = "10:00", **extra: Any) -> dict[str, Any]:
    created = ask(world, host, start, **extra)
    assert created.status_code == 201, created.text
    return dict(created.json())


def get(world: HubWorld, booking_id: str) -> dict[str, Any]:
    response = world.tenant.client.get(f"/v1/bookings/{booking_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def sent(world: HubWorld, endpoint_id: str) -> list[dict[str, Any]]:
    with world.db.read() as session:
        rows = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id).order_by(WebhookDelivery.id)
        )
        return [json.loads(r.body) for r in rows]


def sync(world: HubWorld, connection_id: str) -> None:
    assert world.tenant.client.post(f"/v1/connections/{connection_id}/sync").status_code == 202
    world.run_jobs()


def test_a_meet_link_is_made_once_announced_once_and_kept_by_a_reschedule(
    world: GoogleWorld, smtp_server: SmtpServer
) -> None:
    host = linked_host(world)
    created = book(world, host, conferencing={"provider": "auto"})
    assert created["conferencing"] == {"provider": "google_meet", "status": "pending", "join_url": None, "error": None}
    world.run_jobs()

    insert = world.google.inserts[0]
    assert insert["conferenceData"]["createRequest"]["conferenceSolutionKey"] == {"type": "hangoutsMeet"}
    assert get(world, created["id"])["conferencing"]["status"] == "pending"
    assert smtp_server.mailbox.to(GUEST) == [], "no invitation before the link exists"
    assert ScheduledJobRegistry(SYNC, connection=world.redis).count == 1, "a later read-back is scheduled"

    # the write job again (a retry): Google refuses the event id, no second conference
    with world.db.read() as session:
        outbox_id = session.scalar(select(OutboxMessage.id).where(OutboxMessage.aggregate_id == created["id"]))
    enqueue(world.redis, "hub.connections.jobs.write_booking", str(outbox_id), queue_name=SYNC)
    world.run_jobs()
    assert len(world.google.conference_requests) == 1
    assert len(world.google.live_events()) == 1

    world.google.finish_conferences()
    ctx = JobContext(world.settings, world.db, world.redis)
    assert connections.check_conference(ctx, created["id"], 1)["outcome"] == "ready"
    assert connections.check_conference(ctx, created["id"], 2)["outcome"] == "settled"  # the next one finds it done
    world.run_jobs()

    ready = get(world, created["id"])["conferencing"]
    link = world.google.live_events()[0]["hangoutLink"]
    assert ready == {"provider": "google_meet", "status": "ready", "join_url": link, "error": None}
    updates = [d for d in sent(world, host["endpoint_id"]) if d["type"] == "booking.updated"]
    assert len(updates) == 1
    assert updates[0]["data"]["conferencing"]["join_url"] == link
    assert "change" not in updates[0]["data"]

    invites = smtp_server.mailbox.to(GUEST)
    assert len(invites) == 1, "one invitation, with the link"
    calendar, event = parse_calendar(invites[0])
    assert str(calendar["METHOD"]) == "REQUEST"
    assert str(event["LOCATION"]) == link
    assert str(event["CONFERENCE"]) == link
    assert event["CONFERENCE"].params["FEATURE"] == "VIDEO"
    assert link in body(invites[0], "plain")

    # a reschedule patches the same event, sends no conference data, and keeps the link
    moved = world.tenant.client.post(
        f"/v1/bookings/{created['id']}/reschedule",
        json={"start": f"{MONDAY}T11:00:00", "duration_minutes": 60, "timezone": BERLIN},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["conferencing"]["join_url"] == link
    world.run_jobs()
    assert [b for _, b in world.google.patches if "conferenceData" in b] == []
    assert world.google.live_events()[0]["hangoutLink"] == link
    assert len(world.google.conference_requests) == 1
    again = smtp_server.mailbox.to(GUEST)
    assert len(again) == 2
    _, moved_event = parse_calendar(again[1])
    assert str(moved_event["LOCATION"]) == link
    print("the booking's journey at Google:", *world.google.requests, sep="\n  ")


def test_a_meet_conference_that_never_finishes_fails_and_the_invitation_goes_out_without_a_link(
    world: GoogleWorld, smtp_server: SmtpServer
) -> None:
    host = linked_host(world)
    created = book(world, host, conferencing={"provider": "google_meet"})
    world.run_jobs()
    ctx = JobContext(world.settings, world.db, world.redis)
    assert connections.check_conference(ctx, created["id"], len(connections._conference.CHECK_DELAYS))["outcome"] == (
        "failed"
    )
    world.run_jobs()
    failed = get(world, created["id"])["conferencing"]
    assert failed["status"] == "failed"
    assert failed["error"].startswith("conference_timeout")
    invites = smtp_server.mailbox.to(GUEST)
    assert len(invites) == 1
    _, event = parse_calendar(invites[0])
    assert "LOCATION" not in event


def test_answers_and_the_hosts_moves_and_deletes_are_read_back_once(world: GoogleWorld) -> None:
    host = linked_host(world)
    created = book(world, host)
    assert created["conferencing"] is None
    assert created["attendees"][0]["response"] == "needs_action"
    world.run_jobs()
    event_id = world.google.inserts[0]["id"]

    world.google.respond(event_id, GUEST, "accepted")
    sync(world, host["connection_id"])
    sync(world, host["connection_id"])  # the same answer again: nothing new
    assert get(world, created["id"])["attendees"][0]["response"] == "accepted"
    answered = [d for d in sent(world, host["endpoint_id"]) if d["type"] == "booking.attendee_responded"]
    assert len(answered) == 1
    assert answered[0]["data"]["response_change"] == {
        "email": GUEST,
        "response": "accepted",
        "previous": "needs_action",
    }

    # Hub's own reschedule is not a change by the host
    moved = world.tenant.client.post(
        f"/v1/bookings/{created['id']}/reschedule",
        json={"start": f"{MONDAY}T13:00:00", "duration_minutes": 60, "timezone": BERLIN},
    )
    assert moved.status_code == 200, moved.text
    world.run_jobs()
    sync(world, host["connection_id"])
    assert get(world, created["id"])["external_change"] is None

    # the host drags the event in Google Calendar: flagged once, the booking keeps its time
    world.google.move_event(event_id, f"{MONDAY}T15:00:00+01:00", f"{MONDAY}T16:00:00+01:00")
    sync(world, host["connection_id"])
    sync(world, host["connection_id"])
    booking = get(world, created["id"])
    assert booking["start"] == moved.json()["start"]
    assert booking["external_change"]["kind"] == "moved"
    assert (booking["external_change"]["start"], booking["external_change"]["end"]) == (
        "2030-12-02T14:00:00Z",
        "2030-12-02T15:00:00Z",
    )
    # then deletes it: flagged once more, and Hub writes nothing back
    inserts = len(world.google.inserts)
    world.google.cancel_event(event_id)
    sync(world, host["connection_id"])
    sync(world, host["connection_id"])
    booking = get(world, created["id"])
    assert booking["status"] == "confirmed"
    assert booking["external_change"]["kind"] == "deleted"
    assert len(world.google.inserts) == inserts, "a deleted event is not written again"
    changes = [d for d in sent(world, host["endpoint_id"]) if d["type"] == "booking.external_change"]
    assert [d["data"]["external_change"]["kind"] for d in changes] == ["moved", "deleted"]
    with world.db.read() as session:
        logged = [c for run in session.scalars(select(SyncRun.booking_changes)) if run for c in run]
    assert {"booking_id": created["id"], "kind": "deleted"} in logged
    assert {"booking_id": created["id"], "kind": "attendee_responded"} in logged


def test_conferencing_the_host_cannot_make_is_refused(world: GoogleWorld) -> None:
    refused = ask(world, world.host(), conferencing={"provider": "auto"})
    assert_problem(refused, 422, "conferencing_unavailable")
    host = linked_host(world)
    assert_problem(ask(world, host, conferencing={"provider": "teams"}), 422, "conferencing_unavailable")
    assert world.tenant.client.get("/v1/bookings", params={"host_id": host["id"]}).json()["data"] == []
    assert_problem(ask(world, host, conferencing={"provider": "zoom"}), 422, "validation_failed")


@pytest.fixture
def graph_world(
    settings: Settings, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpServer
) -> Iterator[MicrosoftWorld]:
    with microsoft_world(settings, tmp_path, monkeypatch, **mailing_settings(smtp_server.port)) as built:
        yield built


def test_a_teams_link_on_graph_is_ready_at_once_and_a_host_delete_is_flagged(
    graph_world: MicrosoftWorld, smtp_server: SmtpServer
) -> None:
    host = linked_host(graph_world)
    created = book(graph_world, host, conferencing={"provider": "auto"})
    assert created["conferencing"]["provider"] == "teams"
    graph_world.run_jobs()
    create = graph_world.graph.creates[0]
    assert (create["isOnlineMeeting"], create["onlineMeetingProvider"]) == (True, "teamsForBusiness")
    ready = get(graph_world, created["id"])["conferencing"]
    assert ready == {"provider": "teams", "status": "ready", "join_url": graph_world.graph.meetings[0], "error": None}
    invites = smtp_server.mailbox.to(GUEST)
    assert len(invites) == 1
    _, event = parse_calendar(invites[0])
    assert str(event["URL"]) == graph_world.graph.meetings[0]

    # (the booking lies beyond Graph's delta window of a year ahead, where a move is not seen;
    # a deletion is reported whatever the window)
    event_id = graph_world.graph.live_events()[0]["id"]
    graph_world.graph.delete_event(event_id)
    sync(graph_world, host["connection_id"])
    sync(graph_world, host["connection_id"])
    kinds = [
        d["data"]["external_change"]["kind"]
        for d in sent(graph_world, host["endpoint_id"])
        if d["type"] == "booking.external_change"
    ]
    assert kinds == ["deleted"]
    print(
        "the booking's journey at Graph:",
        *(f"{r['method']} {r['path']}" for r in graph_world.graph.requests),
        sep="\n  ",
    )


def test_a_calendar_that_does_not_allow_teams_refuses_a_teams_booking(graph_world: MicrosoftWorld) -> None:
    graph_world.graph.online_meeting_providers = ["unknown"]
    host = linked_host(graph_world)
    refused = ask(graph_world, host, conferencing={"provider": "teams"})
    assert_problem(refused, 422, "conferencing_unavailable")
