"""A reschedule end to end, with a linked Google host (the stand-in over HTTP), a real SMTP
server and Hub's jobs: the booking keeps its id, Google sees a patch of the same event (never a
second event or a delete), the attendees get a REQUEST with the same UID and a higher
SEQUENCE, a client webhook endpoint gets one ``booking.rescheduled``; two quick moves end at
the last time everywhere, also when their jobs run out of order."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hub.db import Database
from hub.db.tables import BookingEvent, ExternalEvent, OutboxMessage, WebhookDelivery
from hub.jobs.runner import enqueue
from hub.settings import Settings
from tests.connectors.email.helpers import parse_calendar
from tests.integration.helpers import BERLIN, MONDAY
from tests.support.servers import wait_for
from tests.support.smtp import SmtpServer
from tests.support.workers import WorkerProcess, hub_env
from tests.support.worlds import GoogleWorld, google_world, mailing_settings

pytestmark = pytest.mark.slow

GUEST = "guest@example.com"


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path, smtp_server: SmtpServer) -> Iterator[GoogleWorld]:
    with google_world(settings, tmp_path, **mailing_settings(smtp_server.port)) as built:
        yield built


def linked_booking(world: GoogleWorld) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A host with a linked Google calendar, a client webhook endpoint, and a booking written
    into the calendar: (host, booking, endpoint id)."""
    host = world.host()
    host["connection_id"] = world.link(host["id"])
    world.run_jobs()
    endpoint = world.tenant.client.post(
        "/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/hooks", "events": ["booking.rescheduled"]}
    )
    assert endpoint.status_code == 201, endpoint.text
    created = world.tenant.client.post(
        "/v1/bookings",
        json={
            "host_id": host["id"],
            "start": f"{MONDAY}T10:00:00",
            "duration_minutes": 60,
            "timezone": BERLIN,
            "title": "Intro call",
            "attendees": [{"email": GUEST, "name": "Guest One"}],
        },
    )
    assert created.status_code == 201, created.text
    world.run_jobs()
    assert len(world.google.inserts) == 1
    return host, created.json(), endpoint.json()["id"]


def move(world: GoogleWorld, booking_id: str, start: str, **headers: str) -> dict[str, Any]:
    response = world.tenant.client.post(
        f"/v1/bookings/{booking_id}/reschedule",
        json={"start": start, "duration_minutes": 60, "timezone": BERLIN, "reason": "host travels"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def google_times(world: GoogleWorld) -> list[tuple[str, str]]:
    return [(e["start"]["dateTime"], e["end"]["dateTime"]) for e in world.google.live_events()]


def deliveries(world: GoogleWorld, endpoint_id: str) -> list[dict[str, Any]]:
    with world.db.read() as session:
        rows = session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id))
        return [json.loads(r.body) for r in rows]


def test_reschedule_journey_patches_the_event_invites_again_and_tells_the_client(
    world: GoogleWorld, smtp_server: SmtpServer
) -> None:
    host, created, endpoint_id = linked_booking(world)
    event_id = world.google.inserts[0]["id"]
    first_invite = smtp_server.mailbox.to(GUEST)
    assert len(first_invite) == 1
    # the sync reads Hub's own event back as a busy block; it does not stand in the way of the move
    assert world.tenant.client.post(f"/v1/connections/{host['connection_id']}/sync").status_code == 202
    world.run_jobs()
    with world.db.read() as session:
        assert session.scalar(select(ExternalEvent.id).where(ExternalEvent.provider_event_id == event_id)) is not None

    out = move(world, created["id"], f"{MONDAY}T10:30:00", **{"Idempotency-Key": "move-1"})
    assert out["id"] == created["id"]
    assert out["previous"] == {"start": created["start"], "end": created["end"]}
    replay = world.tenant.client.post(
        f"/v1/bookings/{created['id']}/reschedule",
        json={"start": f"{MONDAY}T10:30:00", "duration_minutes": 60, "timezone": BERLIN, "reason": "host travels"},
        headers={"Idempotency-Key": "move-1"},
    )
    assert replay.headers.get("idempotent-replayed") == "true"
    assert replay.json() == out
    world.run_jobs()

    # Google: the same event patched in place, one event for the booking, never deleted
    assert [eid for eid, _ in world.google.patches] == [event_id]
    assert len(world.google.inserts) == 1
    assert world.google.deletes == []
    assert google_times(world) == [("2030-12-02T10:30:00+01:00", "2030-12-02T11:30:00+01:00")]
    with world.db.read() as session:
        row = session.scalar(select(BookingEvent).where(BookingEvent.booking_id == created["id"]))
        assert row is not None
        assert (row.provider_event_id, row.sequence) == (event_id, 1)

    # attendees: one more message, a REQUEST with the same UID and a higher SEQUENCE, both times
    messages = smtp_server.mailbox.to(GUEST)
    assert len(messages) == 2
    _, first_event = parse_calendar(first_invite[0])
    calendar, event = parse_calendar(messages[1])
    assert str(calendar["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == str(first_event["UID"])
    assert int(event["SEQUENCE"]) > int(first_event["SEQUENCE"])
    assert messages[1]["Subject"].startswith("Moved: Intro call")
    text = messages[1].get_body(preferencelist=("plain",)).get_content()
    assert "10:00" in text
    assert "10:30" in text

    # the client: one booking.rescheduled webhook with the booking and its previous times
    sent = deliveries(world, endpoint_id)
    assert [d["type"] for d in sent] == ["booking.rescheduled"]
    assert sent[0]["data"]["id"] == created["id"]
    assert sent[0]["data"]["previous"] == out["previous"]
    assert sent[0]["data"]["reschedule_count"] == 1

    # the same times again: nothing changes, nothing is sent
    assert move(world, created["id"], f"{MONDAY}T10:30:00")["reschedule_count"] == 1
    world.run_jobs()
    assert len(world.google.patches) == 1
    assert len(smtp_server.mailbox.to(GUEST)) == 2
    assert len(deliveries(world, endpoint_id)) == 1


def test_two_quick_moves_end_at_the_last_time_even_with_their_jobs_out_of_order(
    world: GoogleWorld, smtp_server: SmtpServer
) -> None:
    _, created, endpoint_id = linked_booking(world)
    move(world, created["id"], f"{MONDAY}T13:00:00")
    last = move(world, created["id"], f"{MONDAY}T14:00:00")
    world.run_jobs()
    with world.db.read() as session:
        first_move = session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.aggregate_id == created["id"], OutboxMessage.event_type == "booking.rescheduled")
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
        ).first()
    # the first move's calendar job again, after the second: it finds the last time written
    enqueue(world.redis, "hub.connections.jobs.write_booking", str(first_move))
    world.run_jobs()
    assert google_times(world) == [("2030-12-02T14:00:00+01:00", "2030-12-02T15:00:00+01:00")]
    assert len(world.google.inserts) == 1
    # attendees: the superseded first move emails nobody; the last message has the last time
    messages = smtp_server.mailbox.to(GUEST)
    _, event = parse_calendar(messages[-1])
    assert event.decoded("DTSTART").isoformat().startswith("2030-12-02T14:00:00")
    assert int(event["SEQUENCE"]) == 2
    # the client: each webhook carries the booking as it is, the last time
    sent = deliveries(world, endpoint_id)
    assert sent
    assert {d["data"]["start"] for d in sent} == {last["start"]}
    assert max(d["data"]["reschedule_count"] for d in sent) == 2


def test_two_moves_within_a_second_with_a_real_worker(world: GoogleWorld, tmp_path: Path) -> None:
    worker = WorkerProcess(hub_env(world.settings), tmp_path / "worker.log").start()
    try:
        host = world.host()
        connection_id = world.link(host["id"])
        wait_for(lambda: world.connection(connection_id)["last_success_at"] is not None, 60, "the first sync")
        created = world.tenant.client.post(
            "/v1/bookings",
            json={"host_id": host["id"], "start": f"{MONDAY}T09:00:00", "duration_minutes": 30, "timezone": BERLIN},
        )
        assert created.status_code == 201, created.text
        booking_id = created.json()["id"]
        move(world, booking_id, f"{MONDAY}T12:00:00")
        move(world, booking_id, f"{MONDAY}T15:00:00")
        wanted = [("2030-12-02T15:00:00+01:00", "2030-12-02T16:00:00+01:00")]
        wait_for(lambda: google_times(world) == wanted, 60, "the last time in Google Calendar")
        assert len(world.google.inserts) == 1
        assert world.google.deletes == []
    finally:
        worker.kill(signal.SIGTERM)
