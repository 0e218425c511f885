"""Linking a CalDAV account through the API and keeping its busy times, against a real CalDAV
server (Radicale on loopback; ``HUB_CALDAV_ALLOW_PRIVATE`` on, as under ``hub dev``)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from caldav.davclient import DAVClient
from icalendar import Calendar
from sqlalchemy import select, update

from hub.clock import utcnow
from hub.connections import sweep_polled_calendars
from hub.connections.credentials import StoredCredentials
from hub.crypto import keyring_for
from hub.db import Database
from hub.db.tables import BookingEvent, Connection, ExternalEvent
from hub.db.tables import Calendar as CalendarRow
from hub.jobs.context import JobContext
from hub.settings import Settings
from tests.support.servers import RadicaleServer
from tests.support.worlds import HubWorld, hub_world

pytestmark = pytest.mark.slow

MONDAY = "2027-03-29"  # the day after Berlin's change to summer time
PASSWORD = "app-pass-5678"

WEEKLY = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Test//EN\r
BEGIN:VEVENT\r
UID:weekly\r
DTSTAMP:20270101T000000Z\r
DTSTART;TZID=Europe/Berlin:20270315T{hour}0000\r
DTEND;TZID=Europe/Berlin:20270315T{end}0000\r
RRULE:FREQ=WEEKLY;COUNT=10\r
END:VEVENT\r
END:VCALENDAR\r
"""


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    server = RadicaleServer(Path(tmp_path_factory.mktemp("radicale"))).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path) -> Iterator[HubWorld]:
    with hub_world(settings, tmp_path, caldav_allow_private=True) as built:
        yield built


@pytest.fixture
def username(radicale: RadicaleServer) -> str:
    name = f"host{uuid.uuid4().hex[:8]}"
    radicale.add_user(name, PASSWORD)
    with DAVClient(url=radicale.url, username=name, password=PASSWORD) as dav:
        assert dav.request(f"{radicale.url}{name}/work/", "MKCALENDAR").status == 201
    return name


def put(radicale: RadicaleServer, username: str, hour: int) -> None:
    with DAVClient(url=radicale.url, username=username, password=PASSWORD) as dav:
        body = WEEKLY.format(hour=f"{hour:02d}", end=f"{hour + 1:02d}")
        assert dav.put(f"{radicale.url}{username}/work/weekly.ics", body, {"Content-Type": "text/calendar"}).status in (
            201,
            204,
        )


def link(world: HubWorld, user_id: str, body: dict[str, str], key: str | None = None) -> dict[str, object]:
    headers = {"Idempotency-Key": key} if key else {}
    answer = world.tenant.client.post(f"/v1/users/{user_id}/connections/caldav", json=body, headers=headers)
    return {"status": answer.status_code, "body": answer.json(), "replayed": answer.headers.get("idempotent-replayed")}


def test_linking_polling_and_a_revoked_password(world: HubWorld, radicale: RadicaleServer, username: str) -> None:
    put(radicale, username, 10)
    user = world.host()
    body = {"server_url": radicale.url, "username": username, "password": PASSWORD}
    first = link(world, user["id"], body, key="link-1")
    assert first["status"] == 201, first
    connection = first["body"]
    assert isinstance(connection, dict)
    assert connection["provider"] == "caldav"
    assert connection["status"] == "active"
    assert [(c["provider_calendar_id"], c["busy_source"], c["booking_target"]) for c in connection["calendars"]] == [
        (f"{radicale.url}{username}/work/", True, True)
    ]
    again = link(world, user["id"], body, key="link-1")
    assert (again["status"], again["replayed"], again["body"]) == (201, "true", connection)

    with world.db.read() as session:
        row = session.get(Connection, connection["id"])
        assert row is not None
        assert row.credentials_ciphertext is not None
        assert PASSWORD.encode() not in row.credentials_ciphertext
        stored = StoredCredentials(world.db, keyring_for(world.settings), row)
        assert stored.get()["password"] == PASSWORD

    world.run_jobs()  # setup: calendars, the first sync (no push channel to subscribe)
    assert world.morning_slots(user["id"], MONDAY) == ["09:00", "11:00", "12:00"]  # 10:00 CEST is busy
    with world.db.read() as session:
        items = set(
            session.scalars(
                select(ExternalEvent.item)
                .join(CalendarRow, CalendarRow.id == ExternalEvent.calendar_id)
                .where(CalendarRow.connection_id == connection["id"])
            )
        )
    assert items == {f"{radicale.url}{username}/work/weekly.ics"}

    put(radicale, username, 11)  # the host moves the series on the server
    assert world.tenant.client.post(f"/v1/connections/{connection['id']}/sync").status_code == 202
    world.run_jobs()
    assert world.morning_slots(user["id"], MONDAY) == ["09:00", "10:00", "12:00"]

    ctx = JobContext(world.settings, world.db, world.redis)
    # The sweep sees every organization's polled calendars: a first pass requests the syncs other
    # tests' connections are due for, so the passes below count only this connection's (a
    # requested sync that has not run yet is coalesced, not requested again).
    sweep_polled_calendars(ctx)
    assert sweep_polled_calendars(ctx)["requested"] == 0  # synced just now
    with world.db.write() as session:
        session.execute(
            update(Connection)
            .where(Connection.id == connection["id"])
            .values(last_synced_at=utcnow() - timedelta(minutes=5))
        )
    assert sweep_polled_calendars(ctx)["requested"] == 1
    with world.db.read() as session:
        row = session.get(Connection, connection["id"])
        assert row is not None
        StoredCredentials(world.db, keyring_for(world.settings), row).save({**stored.get(), "password": "revoked"})
    world.run_jobs()
    relinked = world.connection(str(connection["id"]))
    assert relinked["status"] == "reauth_required"
    assert relinked["last_error"]["code"] == "reauth_required"


def test_a_wrong_password_and_no_server(world: HubWorld, radicale: RadicaleServer, username: str) -> None:
    user = world.host()
    wrong = link(world, user["id"], {"server_url": radicale.url, "username": username, "password": "nope"})
    assert (wrong["status"], wrong["body"]["code"]) == (422, "caldav_auth_failed")  # type: ignore[index]
    nextcloud = link(world, user["id"], {"preset": "nextcloud", "username": username, "password": "nope"})
    assert (nextcloud["status"], nextcloud["body"]["code"]) == (422, "validation_failed")  # type: ignore[index]
    oauth = world.tenant.client.post(
        f"/v1/users/{user['id']}/connections/caldav/authorize", json={"redirect_uri": "https://x.example/"}
    )
    assert oauth.status_code == 404
    google = world.tenant.client.post(
        f"/v1/users/{user['id']}/connections/google", json={"username": "u", "password": "p"}
    )
    assert google.status_code == 404


def resources(radicale: RadicaleServer, username: str) -> dict[str, tuple[str, str]]:
    """The calendar's resources on the server (a plain PROPFIND): name -> (ETag, body)."""
    found: dict[str, tuple[str, str]] = {}
    calendar = f"{radicale.url}{username}/work/"
    with httpx.Client(auth=(username, PASSWORD), timeout=10) as client:
        listing = client.request("PROPFIND", calendar, headers={"Depth": "1"})
        assert listing.status_code == 207, listing.status_code
        for href in re.findall(r"<href>([^<]+\.ics)</href>", listing.text):
            answer = client.get(httpx.URL(calendar).join(href))
            assert answer.status_code == 200, (href, answer.status_code)
            found[href.rsplit("/", 1)[-1]] = (answer.headers["ETag"], answer.text)
    return found


def booking_event(world: HubWorld, booking_id: str) -> BookingEvent:
    with world.db.read() as session:
        row = session.scalar(select(BookingEvent).where(BookingEvent.booking_id == booking_id))
        assert row is not None
        return row


def test_a_booking_is_written_moved_twice_in_place_and_deleted_on_the_server(
    world: HubWorld, radicale: RadicaleServer, username: str
) -> None:
    host = world.host()
    linked = link(world, host["id"], {"server_url": radicale.url, "username": username, "password": PASSWORD})
    assert linked["status"] == 201, linked
    connection_id = str(linked["body"]["id"])  # type: ignore[index]
    world.run_jobs()
    created = world.tenant.client.post(
        "/v1/bookings",
        json={
            "host_id": host["id"],
            "start": f"{MONDAY}T10:00:00",
            "duration_minutes": 60,
            "timezone": "Europe/Berlin",
            "title": "Intro call",
            "attendees": [{"email": "guest@example.com", "name": "Guest One"}],
        },
    )
    assert created.status_code == 201, created.text
    booking_id = created.json()["id"]
    world.run_jobs()
    name = f"hub-{booking_id}.ics"
    held = resources(radicale, username)
    assert list(held) == [name]
    [event] = Calendar.from_ical(held[name][1]).walk("VEVENT")
    assert (str(event["UID"]), int(event["SEQUENCE"])) == (f"{booking_id}@hub", 0)
    row = booking_event(world, booking_id)
    assert row.provider_event_id == f"{radicale.url}{username}/work/{name}#{held[name][0]}"

    # the sync reads Hub's own resource back; it does not stand in the way of a move over it
    assert world.tenant.client.post(f"/v1/connections/{connection_id}/sync").status_code == 202
    world.run_jobs()
    with world.db.read() as session:
        items = session.scalars(select(ExternalEvent.item).where(ExternalEvent.user_id == host["id"]))
        assert set(items) == {f"{radicale.url}{username}/work/{name}"}

    for sequence, start in ((1, "10:30"), (2, "12:00")):
        moved = world.tenant.client.post(
            f"/v1/bookings/{booking_id}/reschedule",
            json={"start": f"{MONDAY}T{start}:00", "duration_minutes": 60, "timezone": "Europe/Berlin"},
        )
        assert moved.status_code == 200, moved.text
        world.run_jobs()
        held = resources(radicale, username)
        assert list(held) == [name], "one resource for the booking, moved in place"
        [event] = Calendar.from_ical(held[name][1]).walk("VEVENT")
        assert str(event["UID"]) == f"{booking_id}@hub"
        assert int(event["SEQUENCE"]) == sequence, "the booking's version, as in its invitations"
        assert event["DTSTART"].dt.isoformat() == f"{MONDAY}T{start}:00+02:00"
        row = booking_event(world, booking_id)
        # the id Hub keeps carries the ETag of its last write: the next move updates that version
        assert row.provider_event_id == f"{radicale.url}{username}/work/{name}#{held[name][0]}"
        assert (row.status, row.sequence, row.error) == ("written", sequence, None)

    cancelled = world.tenant.client.post(f"/v1/bookings/{booking_id}/cancel", json={})
    assert cancelled.status_code == 200, cancelled.text
    world.run_jobs()
    assert resources(radicale, username) == {}
    assert booking_event(world, booking_id).status == "deleted"
