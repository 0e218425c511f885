"""A recurring booking with conferencing, end to end: Hub's API on a live server, its jobs, a
real SMTP server and the Google stand-in over HTTP. Every occurrence is its own Google event with
its own Meet conference; the series' one invitation waits until the last conference is settled
and carries each occurrence's link; a host whose calendar cannot make one is refused up front."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import recurring_ical_events
from icalendar import Calendar
from sqlalchemy import select

from hub import connections
from hub.db import Database
from hub.db.tables import WebhookDelivery
from hub.jobs.context import JobContext
from hub.settings import Settings
from tests.connectors.email.helpers import calendar_part
from tests.integration.helpers import BERLIN, assert_problem
from tests.support.smtp import SmtpServer
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


def weekly(host_id: str) -> dict[str, Any]:
    return {
        "host_id": host_id,
        "start": "2031-03-17T10:00:00",
        "duration_minutes": 60,
        "timezone": BERLIN,
        "title": "Weekly sync",
        "attendees": [{"email": GUEST, "name": "Guest One"}],
        "recurrence": {"frequency": "weekly", "count": 3},
        "conferencing": {"provider": "auto"},
    }


def occurrences(world: GoogleWorld, series_id: str) -> list[dict[str, Any]]:
    series = world.tenant.client.get(f"/v1/booking-series/{series_id}")
    assert series.status_code == 200, series.text
    return [world.tenant.client.get(f"/v1/bookings/{b}").json() for b in series.json()["booking_ids"]]


def deliveries(world: GoogleWorld, endpoint_id: str) -> list[dict[str, Any]]:
    with world.db.read() as session:
        rows = session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id))
        return [json.loads(r.body) for r in rows]


def test_a_series_gets_a_conference_per_occurrence_and_one_invitation_with_every_link(
    world: GoogleWorld, smtp_server: SmtpServer
) -> None:
    host = world.host()
    world.link(host["id"])
    world.run_jobs()
    endpoint = world.tenant.client.post(
        "/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/hooks", "events": ["booking.updated"]}
    )
    assert endpoint.status_code == 201, endpoint.text
    created = world.tenant.client.post("/v1/bookings", json=weekly(host["id"]))
    assert created.status_code == 201, created.text
    assert created.json()["conferencing"]["status"] == "pending"
    series_id = created.json()["series_id"]
    world.run_jobs()

    assert len(world.google.conference_requests) == 3, "one conference per occurrence, each its own event"
    bookings = occurrences(world, series_id)
    assert [b["conferencing"]["status"] for b in bookings] == ["pending"] * 3
    assert smtp_server.mailbox.to(GUEST) == [], "no invitation while a conference is pending"

    world.google.finish_conferences()
    ctx = JobContext(world.settings, world.db, world.redis)
    for one in bookings[:2]:
        assert connections.check_conference(ctx, one["id"], 1)["outcome"] == "ready"
    world.run_jobs()
    assert smtp_server.mailbox.to(GUEST) == [], "no invitation while the last conference is pending"
    assert connections.check_conference(ctx, bookings[2]["id"], 1)["outcome"] == "ready"
    world.run_jobs()

    links = {e["start"]["dateTime"]: e["hangoutLink"] for e in world.google.live_events()}
    assert len(set(links.values())) == 3
    bookings = occurrences(world, series_id)
    for one in bookings:
        assert one["conferencing"]["status"] == "ready"
        assert one["conferencing"]["join_url"] in links.values()
    by_start = {b["start"]: b["conferencing"]["join_url"] for b in bookings}
    assert len(set(by_start.values())) == 3

    updates = deliveries(world, endpoint.json()["id"])
    assert sorted(u["data"]["id"] for u in updates) == sorted(b["id"] for b in bookings), "one per occurrence"
    assert {u["data"]["conferencing"]["join_url"] for u in updates} == set(by_start.values())

    invites = smtp_server.mailbox.to(GUEST)
    assert len(invites) == 1, "one invitation for the series, once every link exists"
    calendar = Calendar.from_ical(calendar_part(invites[0]).get_content())
    assert str(calendar["METHOD"]) == "REQUEST"
    events = calendar.walk("VEVENT")
    assert {str(e["UID"]) for e in events} == {f"{series_id}@hub"}
    (master,) = [e for e in events if "RRULE" in e]
    assert "LOCATION" not in master, "the links differ: each is on its occurrence"
    assert len(events) == 4  # the series and an override per occurrence with its link
    found = recurring_ical_events.of(calendar).between(datetime(2031, 1, 1), datetime(2032, 1, 1))
    assert len(found) == 3
    assert sorted(_utc(e["DTSTART"].dt) for e in found) == sorted(by_start)
    for event in found:
        link = by_start[_utc(event["DTSTART"].dt)]
        assert str(event["LOCATION"]) == link
        assert str(event["URL"]) == link
        assert str(event["CONFERENCE"]) == link


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_series_asking_for_a_conference_the_host_cannot_make_is_refused_and_books_nothing(
    world: GoogleWorld,
) -> None:
    unlinked = world.host()
    refused = world.tenant.client.post("/v1/bookings", json=weekly(unlinked["id"]))
    assert_problem(refused, 422, "conferencing_unavailable")
    listed = world.tenant.client.get("/v1/bookings", params={"host_id": unlinked["id"]})
    assert listed.json()["data"] == []
