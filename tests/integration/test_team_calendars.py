"""Team bookings in the hosts' own calendars, end to end: two hosts, one with a linked Google
account and one with a linked Microsoft account (the stand-ins over HTTP), Hub's jobs run
in-process, a real SMTP server and a client webhook endpoint. A collective booking is one
event in each host's calendar (never two, however often its job runs), deleted from both on
cancel and patched in both on reschedule; a round-robin booking is an event only in the chosen
host's calendar; the attendee gets one invitation listing both hosts, the client one
``booking.created``; a write job retried after one provider failed writes only the missing
event."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import select

from hub.db import Database
from hub.db.tables import BookingEvent, OutboxMessage, WebhookDelivery
from hub.jobs.queues import queues
from hub.jobs.runner import enqueue
from hub.settings import Settings
from tests.connectors.email.helpers import body, parse_calendar
from tests.integration.helpers import BERLIN, MONDAY
from tests.support.smtp import SmtpServer
from tests.support.worlds import TwoProviderWorld, mailing_settings, two_provider_world

pytestmark = pytest.mark.slow

GUEST = "guest@example.com"
ADA = "ada@example.com"  # the Google host's own address (a Hub user's, not the account's)
BO = "bo@example.com"  # the Microsoft host's


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def world(
    settings: Settings, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpServer
) -> Iterator[TwoProviderWorld]:
    with two_provider_world(settings, tmp_path, monkeypatch, **mailing_settings(smtp_server.port)) as built:
        yield built


def linked_hosts(world: TwoProviderWorld) -> tuple[str, str]:
    """Ada with a linked Google calendar, Bo with a linked Microsoft one, both synced: their ids."""
    ada = world.tenant.create_user(name="Ada Host", email=ADA, timezone=BERLIN)["id"]
    bo = world.tenant.create_user(name="Bo Host", email=BO, timezone=BERLIN)["id"]
    world.link_google(ada)
    world.link_microsoft(bo)
    world.run_jobs()
    return ada, bo


def book(world: TwoProviderWorld, hosts: dict[str, Any], start: str = "10:00") -> dict[str, Any]:
    created = world.tenant.client.post(
        "/v1/bookings",
        json={
            **hosts,
            "start": f"{MONDAY}T{start}:00",
            "duration_minutes": 60,
            "timezone": BERLIN,
            "title": "Panel",
            "attendees": [{"email": GUEST, "name": "Guest One"}],
        },
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


def google_events(world: TwoProviderWorld, booking_id: str) -> list[dict[str, Any]]:
    """Hub's live events of the booking in the Google host's calendar."""
    return [e for e in world.google.live_events() if booking_id in json.dumps(e)]


def graph_events(world: TwoProviderWorld, booking_id: str) -> list[dict[str, Any]]:
    """Hub's live events of the booking in the Microsoft host's calendar."""
    return [e for e in world.graph.live_events() if e.get("transactionId") == f"hub-{booking_id}"]


def google_inserts(world: TwoProviderWorld, booking_id: str) -> int:
    return len([b for b in world.google.inserts if booking_id in json.dumps(b)])


def graph_creates(world: TwoProviderWorld, booking_id: str) -> int:
    return len([b for b in world.graph.creates if b.get("transactionId") == f"hub-{booking_id}"])


def recorded(world: TwoProviderWorld, booking_id: str) -> list[BookingEvent]:
    with world.db.read() as session:
        return list(session.scalars(select(BookingEvent).where(BookingEvent.booking_id == booking_id)))


def outbox_id(world: TwoProviderWorld, booking_id: str, event_type: str) -> str:
    with world.db.read() as session:
        found = session.scalar(
            select(OutboxMessage.id).where(
                OutboxMessage.aggregate_id == booking_id, OutboxMessage.event_type == event_type
            )
        )
    assert found is not None, f"no {event_type} outbox row for {booking_id}"
    return found


def test_a_collective_booking_is_one_event_in_each_hosts_calendar_moved_and_deleted_in_both(
    world: TwoProviderWorld,
) -> None:
    ada, bo = linked_hosts(world)
    created = book(world, {"host_ids": [ada, bo]})
    booking_id = created["id"]
    world.run_jobs()

    (google_event,) = google_events(world, booking_id)
    (graph_event,) = graph_events(world, booking_id)
    assert google_event["summary"] == "Panel"
    assert google_event["start"]["dateTime"] == "2030-12-02T10:00:00+01:00"
    assert graph_event["subject"] == "Panel"
    rows = recorded(world, booking_id)
    assert sorted((r.status, r.provider_event_id) for r in rows) == sorted(
        [("written", google_event["id"]), ("written", graph_event["id"])]
    )
    assert len({r.connection_id for r in rows}) == 2
    assert len({r.calendar_id for r in rows}) == 2

    # the write job again (a retry, or a second delivery of the event): nothing is written twice
    enqueue(world.redis, "hub.connections.jobs.write_booking", outbox_id(world, booking_id, "booking.created"))
    world.run_jobs()
    assert (google_inserts(world, booking_id), graph_creates(world, booking_id)) == (1, 1)
    assert len(google_events(world, booking_id)) == len(graph_events(world, booking_id)) == 1
    assert len(recorded(world, booking_id)) == 2

    # a reschedule patches both events in place
    moved = world.tenant.client.post(
        f"/v1/bookings/{booking_id}/reschedule",
        json={"start": f"{MONDAY}T14:00:00", "duration_minutes": 60, "timezone": BERLIN},
    )
    assert moved.status_code == 200, moved.text
    world.run_jobs()
    assert [eid for eid, _ in world.google.patches] == [google_event["id"]]
    assert [eid for eid, _ in world.graph.patches] == [graph_event["id"]]
    assert (google_inserts(world, booking_id), graph_creates(world, booking_id)) == (1, 1)
    assert world.google.deletes == world.graph.deletes == []
    (google_moved,) = google_events(world, booking_id)
    assert google_moved["start"]["dateTime"] == "2030-12-02T14:00:00+01:00"
    (graph_moved,) = graph_events(world, booking_id)
    assert graph_moved["id"] == graph_event["id"]
    assert graph_moved["start"] == {"dateTime": "2030-12-02T13:00:00.0000000", "timeZone": "UTC"}
    assert {(r.status, r.sequence) for r in recorded(world, booking_id)} == {("written", 1)}

    # a cancel deletes both
    cancelled = world.tenant.client.post(f"/v1/bookings/{booking_id}/cancel", json={"reason": "panel off"})
    assert cancelled.status_code == 200, cancelled.text
    world.run_jobs()
    assert world.google.deletes == [google_event["id"]]
    assert world.graph.deletes == [graph_event["id"]]
    assert google_events(world, booking_id) == graph_events(world, booking_id) == []
    assert [r.status for r in recorded(world, booking_id)] == ["deleted", "deleted"]


def test_a_round_robin_booking_is_an_event_only_in_the_chosen_hosts_calendar(world: TwoProviderWorld) -> None:
    ada, bo = linked_hosts(world)
    # Ada has a booking already: the least booked host of the pool is Bo
    earlier = book(world, {"host_id": ada}, start="09:00")
    world.run_jobs()
    assert len(google_events(world, earlier["id"])) == 1

    created = book(world, {"host_pool": {"user_ids": [ada, bo], "assignment": "least_booked"}}, start="11:00")
    assert created["host_ids"] == [bo]
    world.run_jobs()

    assert len(graph_events(world, created["id"])) == 1
    assert google_events(world, created["id"]) == []
    assert google_inserts(world, created["id"]) == 0
    (row,) = recorded(world, created["id"])
    assert (row.status, row.provider_event_id) == ("written", graph_events(world, created["id"])[0]["id"])


def test_the_attendee_gets_one_invitation_listing_both_hosts_and_the_client_one_webhook(
    world: TwoProviderWorld, smtp_server: SmtpServer
) -> None:
    ada, bo = linked_hosts(world)
    endpoint = world.tenant.client.post(
        "/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/hooks", "events": ["booking.created"]}
    )
    assert endpoint.status_code == 201, endpoint.text
    created = book(world, {"host_ids": [ada, bo]})
    world.run_jobs()
    # the write job once more: still one invitation, one webhook
    enqueue(world.redis, "hub.connections.jobs.write_booking", outbox_id(world, created["id"], "booking.created"))
    world.run_jobs()

    (invitation,) = smtp_server.mailbox.to(GUEST)
    assert "Ada Host <ada@example.com>, Bo Host <bo@example.com>" in body(invitation, "plain")
    _, event = parse_calendar(invitation)
    assert str(event["ORGANIZER"]).removeprefix("mailto:") == ADA
    listed = event.get("ATTENDEE")
    assert isinstance(listed, list)
    assert {str(a).removeprefix("mailto:") for a in listed} == {ADA, BO, GUEST}
    for host in (ADA, BO):  # each host gets a copy of their own
        (copy,) = smtp_server.mailbox.to(host)
        assert str(copy["Subject"]).strip().startswith("New booking:")

    with world.db.read() as session:
        rows = list(
            session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.json()["id"]))
        )
    assert [(r.event_type, json.loads(r.body)["data"]["id"]) for r in rows] == [("booking.created", created["id"])]
    assert json.loads(rows[0].body)["data"]["host_ids"] == [ada, bo]


def run_retries(world: TwoProviderWorld) -> None:
    """Make every retry RQ scheduled due now, and run the jobs."""
    for q in queues(world.redis):
        registry = q.scheduled_job_registry
        for job_id in registry.get_job_ids():
            job = Job.fetch(job_id, connection=world.redis, serializer=JSONSerializer)
            registry.remove(job)
            q.enqueue_job(job)
    world.run_jobs()


@pytest.mark.parametrize("throttled", ["google", "microsoft"])
def test_a_write_job_retried_after_one_provider_failed_writes_each_calendar_once(
    world: TwoProviderWorld, throttled: str
) -> None:
    """Whichever host's calendar the job writes first, one of the two cases has it written
    before the other provider fails: the retry writes only the missing event."""
    ada, bo = linked_hosts(world)
    if throttled == "google":  # every in-call attempt of the write is throttled: the job fails
        world.google.rate_limit_next = 4
    else:
        world.graph.throttle_next = 4
    created = book(world, {"host_ids": [ada, bo]})
    booking_id = created["id"]
    world.run_jobs()
    failed = google_events if throttled == "google" else graph_events
    assert failed(world, booking_id) == []
    assert all(r.status == "written" for r in recorded(world, booking_id))

    run_retries(world)
    assert (google_inserts(world, booking_id), graph_creates(world, booking_id)) == (1, 1)
    assert len(google_events(world, booking_id)) == len(graph_events(world, booking_id)) == 1
    assert sorted(r.status for r in recorded(world, booking_id)) == ["written", "written"]
