"""A recurring booking end to end, with a linked Google host (the stand-in over HTTP), a real
SMTP server, a client webhook endpoint and Hub's jobs. After every step (create with one
occurrence skipped, move occurrence 2, cancel following from occurrence 4, cancel occurrence 1,
cancel the series) three views agree with the bookings: the host's Google calendar holds exactly
the booked occurrences; the guest's mailbox, applied message by message the way a calendar client
applies iTIP (RFC 5546) and expanded by a second parser (recurring-ical-events), shows exactly
the booked occurrences at their times; the client got ``booking.created`` / ``booking.cancelled``
per occurrence with its ``series_id``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import recurring_ical_events
from icalendar import Calendar, Event
from sqlalchemy import select

from connectors.email.spec import SPEC as EMAIL_SPEC
from hub.db import Database
from hub.db.tables import WebhookDelivery
from hub.settings import Settings
from tests.connectors.email.helpers import calendar_part
from tests.integration.helpers import BERLIN, booking, create_booking
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


class CalendarClient:
    """What a calendar client keeps of the iTIP messages it received: per UID the series' event,
    its exceptions (by RECURRENCE-ID) and the instances cancelled one by one."""

    def __init__(self) -> None:
        self.masters: dict[str, Event] = {}
        self.overrides: dict[str, dict[datetime, Event]] = {}
        self.applied = 0

    def apply(self, message: EmailMessage) -> None:
        calendar = Calendar.from_ical(calendar_part(message).get_content())
        method = str(calendar["METHOD"])
        for event in calendar.walk("VEVENT"):
            uid = str(event["UID"])
            rid = event.get("RECURRENCE-ID")
            if method == "REQUEST" and rid is None:  # the whole series again; its exceptions follow
                self.masters[uid], self.overrides[uid] = event, {}
            elif method == "REQUEST":
                self.overrides.setdefault(uid, {})[rid.dt] = event
            elif rid is None:  # CANCEL of the series
                self.masters.pop(uid, None)
                self.overrides.pop(uid, None)
            else:  # CANCEL of one instance
                self.overrides.get(uid, {}).pop(rid.dt, None)
                self.masters[uid].add("EXDATE", rid.dt)
        self.applied += 1

    def catch_up(self, mailbox: list[EmailMessage]) -> None:
        for message in mailbox[self.applied :]:
            self.apply(message)

    def occurrences(self) -> list[tuple[str, str]]:
        """Every instance the client shows, as UTC ``(start, end)``, in order."""
        calendar = Calendar()
        for uid, master in self.masters.items():
            calendar.add_component(master)
            for override in self.overrides.get(uid, {}).values():
                calendar.add_component(override)
        found = recurring_ical_events.of(calendar).between(datetime(2031, 1, 1), datetime(2032, 1, 1))
        return sorted((_utc(e["DTSTART"].dt), _utc(e["DTEND"].dt)) for e in found)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def booked(world: GoogleWorld, series_id: str) -> list[tuple[str, str]]:
    response = world.tenant.client.get(f"/v1/booking-series/{series_id}")
    assert response.status_code == 200, response.text
    times = []
    for booking_id in response.json()["booking_ids"]:
        one = world.tenant.client.get(f"/v1/bookings/{booking_id}").json()
        if one["status"] == "confirmed":
            times.append((one["start"], one["end"]))
    return sorted(times)


def google_times(world: GoogleWorld) -> list[tuple[str, str]]:
    return sorted(
        (_utc(datetime.fromisoformat(e["start"]["dateTime"])), _utc(datetime.fromisoformat(e["end"]["dateTime"])))
        for e in world.google.live_events()
    )


def deliveries(world: GoogleWorld, endpoint_id: str) -> list[dict[str, Any]]:
    with world.db.read() as session:
        rows = session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id))
        return [json.loads(r.body) for r in rows]


SINGLE = ("2031-04-14T08:00:00Z", "2031-04-14T09:00:00Z")  # a single booking of the host's, in the way


def agree(world: GoogleWorld, smtp_server: SmtpServer, client: CalendarClient, series_id: str) -> list[Any]:
    """Run the jobs; the bookings, Google (besides the single booking) and the guest's
    calendar show the same times."""
    world.run_jobs()
    expected = booked(world, series_id)
    assert google_times(world) == sorted([*expected, SINGLE])
    client.catch_up(smtp_server.mailbox.to(GUEST))
    assert client.occurrences() == expected
    return expected


def test_series_journey_one_invite_exact_calendars_and_webhooks_per_occurrence(
    world: GoogleWorld, smtp_server: SmtpServer
) -> None:
    assert "booking_series.created" in EMAIL_SPEC.consumers[0].events
    host = world.host()
    world.link(host["id"])
    world.run_jobs()
    endpoint = world.tenant.client.post(
        "/v1/webhook-endpoints",
        json={"url": "http://127.0.0.1:9/hooks", "events": ["booking.created", "booking.cancelled"]},
    )
    assert endpoint.status_code == 201, endpoint.text
    create_booking(world.tenant.client, booking(host["id"], "2031-04-14T10:00:00", duration_minutes=60))  # occurrence 4
    world.run_jobs()
    client = CalendarClient()
    before = len(smtp_server.mailbox.to(GUEST))

    # 1. ten weekly occurrences across Berlin's DST change, occurrence 4 skipped (taken)
    first = create_booking(
        world.tenant.client,
        booking(
            host["id"],
            "2031-03-17T10:00:00",
            duration_minutes=60,
            timezone=BERLIN,
            title="Weekly sync",
            attendees=[{"email": GUEST, "name": "Guest One"}],
            recurrence={"frequency": "weekly", "count": 10, "on_conflict": "skip"},
        ),
    )
    series_id = first["series_id"]
    client.applied = before
    times = agree(world, smtp_server, client, series_id)
    assert len(times) == 9
    assert times[0] == ("2031-03-17T09:00:00Z", "2031-03-17T10:00:00Z")
    assert times[2] == ("2031-03-31T08:00:00Z", "2031-03-31T09:00:00Z")  # 10:00 in summer time
    invites = smtp_server.mailbox.to(GUEST)[before:]
    assert len(invites) == 1  # one invitation for the series, not one per occurrence
    calendar = Calendar.from_ical(calendar_part(invites[0]).get_content())
    (master,) = calendar.walk("VEVENT")
    assert str(calendar["METHOD"]) == "REQUEST"
    assert str(master["UID"]) == f"{series_id}@hub"
    assert master["RRULE"]["FREQ"] == ["WEEKLY"]
    assert master["RRULE"]["COUNT"] == [10]
    assert "Repeats: every week on Mon, 10 times" in invites[0].get_body(preferencelist=("plain",)).get_content()
    ids = world.tenant.client.get(f"/v1/booking-series/{series_id}").json()["booking_ids"]
    assert len(world.google.inserts) == 10  # the single booking and nine occurrences, each its own event
    print(f"series {series_id}: the bookings (local start, UTC start):")
    for booking_id in ids:
        shown = world.tenant.client.get(f"/v1/bookings/{booking_id}").json()
        print(f"  {shown['occurrence_index']:>2} {shown['local_start']}  {shown['start']}")
    print(
        "the invitation's event:",
        master["RRULE"].to_ical().decode(),
        master.get("EXDATE") and master["EXDATE"].to_ical().decode(),
    )
    print("the host's Google events:", *sorted(e["start"]["dateTime"] for e in world.google.inserts), sep="\n  ")

    # 2. move occurrence 2 (the first in summer time) to the afternoon
    moved = world.tenant.client.post(
        f"/v1/bookings/{ids[2]}/reschedule",
        json={"start": "2031-03-31T15:00:00", "duration_minutes": 60, "timezone": BERLIN},
    )
    assert moved.status_code == 200, moved.text
    times = agree(world, smtp_server, client, series_id)
    assert ("2031-03-31T13:00:00Z", "2031-03-31T14:00:00Z") in times
    move_message = smtp_server.mailbox.to(GUEST)[-1]
    (occurrence,) = Calendar.from_ical(calendar_part(move_message).get_content()).walk("VEVENT")
    assert occurrence["RECURRENCE-ID"].dt == datetime(2031, 3, 31, 10, 0, tzinfo=occurrence["RECURRENCE-ID"].dt.tzinfo)
    assert len(world.google.patches) == 1

    # 3. cancel the series from occurrence 5 on (ids[4] is occurrence 5: occurrence 4 was skipped)
    assert world.tenant.client.get(f"/v1/bookings/{ids[4]}").json()["occurrence_index"] == 5
    mails = len(smtp_server.mailbox.to(GUEST))
    cancelled = world.tenant.client.post(
        f"/v1/booking-series/{series_id}/cancel", json={"scope": "following", "from_booking_id": ids[4]}
    )
    assert cancelled.status_code == 200, cancelled.text
    times = agree(world, smtp_server, client, series_id)
    assert len(times) == 4
    assert len(smtp_server.mailbox.to(GUEST)) == mails + 1  # one message for the cut, not one per occurrence
    cut = Calendar.from_ical(calendar_part(smtp_server.mailbox.to(GUEST)[-1]).get_content())
    assert str(cut["METHOD"]) == "REQUEST"
    assert "UNTIL" in cut.walk("VEVENT")[0]["RRULE"]

    # 4. cancel occurrence 1 on its own
    assert world.tenant.client.post(f"/v1/bookings/{ids[1]}/cancel", json={}).status_code == 200
    times = agree(world, smtp_server, client, series_id)
    assert len(times) == 3
    last = Calendar.from_ical(calendar_part(smtp_server.mailbox.to(GUEST)[-1]).get_content())
    assert (str(last["METHOD"]), "RECURRENCE-ID" in last.walk("VEVENT")[0]) == ("CANCEL", True)

    # 5. cancel the rest of the series
    assert world.tenant.client.post(f"/v1/booking-series/{series_id}/cancel", json={"scope": "all"}).status_code == 200
    assert agree(world, smtp_server, client, series_id) == []
    final = Calendar.from_ical(calendar_part(smtp_server.mailbox.to(GUEST)[-1]).get_content())
    assert (str(final["METHOD"]), "RECURRENCE-ID" in final.walk("VEVENT")[0]) == ("CANCEL", False)
    assert len(world.google.live_events()) == 1  # the single booking

    # the client: one booking.created and one booking.cancelled per occurrence, each with series_id
    sent = [d for d in deliveries(world, endpoint.json()["id"]) if d["data"].get("series_id") == series_id]
    assert sorted(d["type"] for d in sent) == ["booking.cancelled"] * 9 + ["booking.created"] * 9
