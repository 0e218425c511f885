"""``/v1/holds`` over HTTP: a hold blocks its host's time like a booking until it expires, is
turned into a booking with ``hold_id``, is released with DELETE, and no race gives one slot
twice."""

from __future__ import annotations

import functools
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from hub.clock import utcnow
from hub.db.tables import Booking, Hold
from tests.integration.helpers import BERLIN, MONDAY, assert_problem, booking, create_booking, error_fields
from tests.support.tenants import Tenant

UTC_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def hold_body(host_id: str, start: str, end: str | None = None, **extra: Any) -> dict[str, Any]:
    """A hold request body; local times are read in Europe/Berlin unless ``timezone`` is given."""
    return booking(host_id, start, end, **extra)


def create_hold(client: httpx.Client, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    response = client.post("/v1/holds", json=body, **kwargs)
    assert response.status_code == 201, response.text
    return dict(response.json())


def expire_now(tenant: Tenant, hold_id: str) -> None:
    """Move a hold's ``expires_at`` one second into the past, as if its time had run out."""
    with tenant.db.write() as session:
        session.execute(update(Hold).where(Hold.id == hold_id).values(expires_at=utcnow() - timedelta(seconds=1)))


# --- create, read -----------------------------------------------------------------------------


def test_create_and_read_a_hold(tenant: Tenant) -> None:
    host = tenant.create_user()
    before = datetime.now(UTC)
    created = create_hold(tenant.client, hold_body(host["id"], f"{MONDAY}T09:00:00", f"{MONDAY}T09:30:00"))
    assert re.fullmatch(r"hld_[0-9a-z]{26}", created["id"])
    assert set(created) == {
        "id", "object", "host_id", "host_ids", "start", "end", "timezone", "status", "expires_at", "booking_id",
        "created_at",
    }  # fmt: skip
    assert created["host_ids"] == [host["id"]]
    assert created["object"] == "hold"
    assert created["status"] == "active"
    assert created["host_id"] == host["id"]
    assert (created["start"], created["end"]) == ("2030-12-02T08:00:00Z", "2030-12-02T08:30:00Z")
    assert created["timezone"] == BERLIN
    assert created["booking_id"] is None
    assert UTC_Z.match(created["created_at"])
    assert UTC_Z.match(created["expires_at"])
    ttl = datetime.fromisoformat(created["expires_at"]) - datetime.fromisoformat(created["created_at"])
    assert ttl == timedelta(seconds=300)  # the default
    assert datetime.fromisoformat(created["created_at"]) >= before - timedelta(seconds=1)
    assert tenant.client.get(f"/v1/holds/{created['id']}").json() == created


def test_ttl_and_duration(tenant: Tenant) -> None:
    host = tenant.create_user()
    created = create_hold(
        tenant.client, hold_body(host["id"], f"{MONDAY}T10:00:00", duration_minutes=45, ttl_seconds=30)
    )
    assert created["end"] == "2030-12-02T09:45:00Z"
    ttl = datetime.fromisoformat(created["expires_at"]) - datetime.fromisoformat(created["created_at"])
    assert ttl == timedelta(seconds=30)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ttl_seconds": 29}, "ttl_seconds"),
        ({"ttl_seconds": 3601}, "ttl_seconds"),
        ({"end": f"{MONDAY}T08:30:00"}, "end"),  # before start
        ({"end": "2030-12-03T09:00:01"}, "end"),  # longer than 24 hours
        ({"duration_minutes": 30}, "end"),  # both end and duration
        ({"end": None}, "end"),  # neither
        ({"start": "tomorrow"}, "start"),
        ({"host_id": "bkg_01jd3w9k6v0m3y0q6d2x9t7h1e"}, "host_id"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
    ],
)
def test_invalid_holds_are_refused_like_bookings(tenant: Tenant, changes: dict[str, Any], field: str) -> None:
    host = tenant.create_user()
    body = {**hold_body(host["id"], f"{MONDAY}T09:00:00", f"{MONDAY}T09:30:00"), **changes}
    body = {k: v for k, v in body.items() if v is not None}
    response = tenant.client.post("/v1/holds", json=body)
    assert response.status_code == 422, response.text
    assert field in error_fields(response.json())


def test_nonexistent_local_time_and_working_hours_as_for_a_booking(tenant: Tenant) -> None:
    host = tenant.create_user()
    gap = tenant.client.post("/v1/holds", json=hold_body(host["id"], "2030-03-31T02:30:00", duration_minutes=30))
    assert_problem(gap, 422, "nonexistent_local_time")
    outside = tenant.client.post("/v1/holds", json=hold_body(host["id"], f"{MONDAY}T20:00:00", duration_minutes=30))
    assert_problem(outside, 409, "outside_availability")


def test_scopes(tenant: Tenant) -> None:
    host = tenant.create_user()
    reader = tenant.key_client(tenant.create_key("app", ["bookings:read"]))
    body = hold_body(host["id"], f"{MONDAY}T09:00:00", duration_minutes=30)
    assert_problem(reader.post("/v1/holds", json=body), 403, "insufficient_scope")
    created = create_hold(tenant.client, body)
    assert reader.get(f"/v1/holds/{created['id']}").status_code == 200
    assert_problem(reader.delete(f"/v1/holds/{created['id']}"), 403, "insufficient_scope")
    nobody = tenant.key_client(tenant.create_key("app", ["users:read"]))
    assert_problem(nobody.get(f"/v1/holds/{created['id']}"), 403, "insufficient_scope")


def test_another_organizations_hold_is_not_found(tenant: Tenant, other_tenant: Tenant) -> None:
    host = tenant.create_user()
    body = hold_body(host["id"], f"{MONDAY}T09:00:00", duration_minutes=30)
    held = create_hold(tenant.client, body)
    assert_problem(other_tenant.client.get(f"/v1/holds/{held['id']}"), 404, "not_found")
    assert_problem(other_tenant.client.delete(f"/v1/holds/{held['id']}"), 404, "not_found")
    their_host = other_tenant.create_user()
    theirs = booking(their_host["id"], f"{MONDAY}T09:00:00", duration_minutes=30, hold_id=held["id"])
    assert_problem(other_tenant.client.post("/v1/bookings", json=theirs), 404, "not_found")
    # the other organization's host cannot be held either
    assert_problem(other_tenant.client.post("/v1/holds", json=body), 404, "not_found")
    assert tenant.client.get(f"/v1/holds/{held['id']}").json()["status"] == "active"  # untouched
    for hold_id in ("hld_01jd3w9k6v0m3y0q6d2x9t7h1e", "nope", "bkg_01jd3w9k6v0m3y0q6d2x9t7h1e"):
        assert_problem(tenant.client.get(f"/v1/holds/{hold_id}"), 404, "not_found")
        assert_problem(tenant.client.delete(f"/v1/holds/{hold_id}"), 404, "not_found")


# --- blocking ---------------------------------------------------------------------------------


def test_a_live_hold_blocks_bookings_and_holds(tenant: Tenant) -> None:
    host = tenant.create_user()
    held = create_hold(tenant.client, hold_body(host["id"], f"{MONDAY}T10:00:00", f"{MONDAY}T11:00:00"))
    for path in ("/v1/bookings", "/v1/holds"):
        response = tenant.client.post(path, json=booking(host["id"], f"{MONDAY}T10:30:00", duration_minutes=60))
        problem = assert_problem(response, 409, "booking_conflict")
        assert problem["conflicts"] == [
            {
                "start": "2030-12-02T09:00:00Z",
                "end": "2030-12-02T10:00:00Z",
                "source": "hold",
                "hold_id": held["id"],
                "expires_at": held["expires_at"].replace("+00:00", "Z"),
            }
        ]
    # Even an owner's ignore_availability does not pass a hold.
    forced = booking(host["id"], f"{MONDAY}T10:00:00", duration_minutes=30, ignore_availability=True)
    assert_problem(tenant.client.post("/v1/bookings", json=forced), 409, "booking_conflict")
    # Next to it is free, and so is another host's time.
    create_booking(tenant.client, booking(host["id"], f"{MONDAY}T11:00:00", duration_minutes=30))
    other = tenant.create_user(name="Bo", email="bo@example.com")
    create_hold(tenant.client, hold_body(other["id"], f"{MONDAY}T10:00:00", f"{MONDAY}T11:00:00"))


def test_a_hold_over_a_booking_is_refused(tenant: Tenant) -> None:
    host = tenant.create_user()
    booked = create_booking(tenant.client, booking(host["id"], f"{MONDAY}T13:00:00", duration_minutes=30))
    response = tenant.client.post("/v1/holds", json=hold_body(host["id"], f"{MONDAY}T12:45:00", duration_minutes=30))
    problem = assert_problem(response, 409, "booking_conflict")
    assert [(c["source"], c.get("booking_id")) for c in problem["conflicts"]] == [("booking", booked["id"])]


def test_the_hosts_buffer_applies_to_holds(tenant: Tenant) -> None:
    host = tenant.create_user(buffer_minutes=15)
    create_hold(tenant.client, hold_body(host["id"], f"{MONDAY}T10:00:00", duration_minutes=30))
    close = tenant.client.post("/v1/bookings", json=booking(host["id"], f"{MONDAY}T10:40:00", duration_minutes=30))
    assert_problem(close, 409, "booking_conflict")
    create_booking(tenant.client, booking(host["id"], f"{MONDAY}T10:45:00", duration_minutes=30))


def test_an_expired_hold_blocks_nothing_without_any_job(tenant: Tenant) -> None:
    host = tenant.create_user()
    body = hold_body(host["id"], f"{MONDAY}T14:00:00", duration_minutes=30)
    held = create_hold(tenant.client, body)
    assert_problem(tenant.client.post("/v1/holds", json=body), 409, "booking_conflict")
    expire_now(tenant, held["id"])
    seen = tenant.client.get(f"/v1/holds/{held['id']}").json()
    assert seen["status"] == "expired"
    with tenant.db.read() as session:
        assert session.get(Hold, held["id"]).status == "active"  # type: ignore[union-attr]  # nothing rewrote it
    again = create_hold(tenant.client, body)
    assert again["id"] != held["id"]
    assert tenant.client.delete(f"/v1/holds/{again['id']}").json()["status"] == "released"
    create_booking(tenant.client, body)


def test_a_hold_expires_in_real_time(tenant: Tenant) -> None:
    host = tenant.create_user()
    body = hold_body(host["id"], f"{MONDAY}T15:00:00", duration_minutes=30)
    held = create_hold(tenant.client, {**body, "ttl_seconds": 30})
    assert_problem(tenant.client.post("/v1/bookings", json=body), 409, "booking_conflict")
    expires_at = datetime.fromisoformat(held["expires_at"])
    time.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds() + 1))
    assert tenant.client.get(f"/v1/holds/{held['id']}").json()["status"] == "expired"
    create_booking(tenant.client, body)


def test_availability_leaves_held_time_out(tenant: Tenant) -> None:
    host = tenant.create_user(working_hours=[{"weekday": "mon", "start": "09:00", "end": "11:00"}])
    params = {"user_id": host["id"], "start": f"{MONDAY}T00:00:00", "end": "2030-12-03T00:00:00"}

    def starts() -> list[str]:
        response = tenant.client.get("/v1/availability", params={**params, "duration_minutes": 30})
        assert response.status_code == 200, response.text
        return [slot["start"] for slot in response.json()["slots"]]

    everything = ["2030-12-02T08:00:00Z", "2030-12-02T08:30:00Z", "2030-12-02T09:00:00Z", "2030-12-02T09:30:00Z"]
    assert starts() == everything
    held = create_hold(tenant.client, hold_body(host["id"], f"{MONDAY}T09:30:00", duration_minutes=30))
    assert starts() == ["2030-12-02T08:00:00Z", "2030-12-02T09:00:00Z", "2030-12-02T09:30:00Z"]
    expire_now(tenant, held["id"])
    assert starts() == everything


# --- convert ----------------------------------------------------------------------------------


def test_a_booking_with_hold_id_takes_the_holds_place(tenant: Tenant) -> None:
    host = tenant.create_user()
    held = create_hold(tenant.client, hold_body(host["id"], f"{MONDAY}T09:00:00", f"{MONDAY}T09:30:00"))
    # The same times written another way (UTC instead of Berlin wall-clock) are the hold's times.
    body = {"host_id": host["id"], "start": "2030-12-02T08:00:00Z", "duration_minutes": 30, "hold_id": held["id"]}
    booked = create_booking(tenant.client, body)
    assert (booked["start"], booked["end"]) == (held["start"], held["end"])
    converted = tenant.client.get(f"/v1/holds/{held['id']}").json()
    assert converted["status"] == "converted"
    assert converted["booking_id"] == booked["id"]
    assert converted["expires_at"] == held["expires_at"]
    # Now the booking blocks the time; the hold cannot be used again, nor released.
    assert_problem(tenant.client.post("/v1/bookings", json=body), 409, "hold_not_active")
    assert_problem(tenant.client.delete(f"/v1/holds/{held['id']}"), 409, "hold_not_active")
    plain = {k: v for k, v in body.items() if k != "hold_id"}
    problem = assert_problem(tenant.client.post("/v1/bookings", json=plain), 409, "booking_conflict")
    assert [c.get("booking_id") for c in problem["conflicts"]] == [booked["id"]]


def test_a_converted_hold_survives_an_idempotent_replay(tenant: Tenant) -> None:
    host = tenant.create_user()
    key = {"Idempotency-Key": f"hold-{uuid.uuid4().hex}"}
    body = hold_body(host["id"], f"{MONDAY}T11:00:00", duration_minutes=30)
    held = create_hold(tenant.client, body, headers=key)
    replay = tenant.client.post("/v1/holds", json=body, headers=key)
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == held

    booking_key = {"Idempotency-Key": f"booking-{uuid.uuid4().hex}"}
    converting = {**body, "hold_id": held["id"]}
    booked = create_booking(tenant.client, converting, headers=booking_key)
    again = tenant.client.post("/v1/bookings", json=converting, headers=booking_key)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == booked
    with tenant.db.read() as session:
        count = session.scalar(select(func.count()).select_from(Booking).where(Booking.host_id == host["id"]))
    assert count == 1


def test_conversion_refusals(tenant: Tenant) -> None:
    host = tenant.create_user()
    other = tenant.create_user(name="Bo", email="bo@example.com")
    body = hold_body(host["id"], f"{MONDAY}T13:00:00", duration_minutes=30)
    held = create_hold(tenant.client, body)

    later = {**body, "start": f"{MONDAY}T13:15:00", "hold_id": held["id"]}
    assert "start" in error_fields(
        assert_problem(tenant.client.post("/v1/bookings", json=later), 422, "validation_failed")
    )
    longer = {**body, "duration_minutes": 45, "hold_id": held["id"]}
    assert_problem(tenant.client.post("/v1/bookings", json=longer), 422, "validation_failed")
    elsewhere = {**body, "host_id": other["id"], "hold_id": held["id"]}
    problem = assert_problem(tenant.client.post("/v1/bookings", json=elsewhere), 422, "validation_failed")
    assert error_fields(problem) == ["host_id"]
    malformed = {**body, "hold_id": "bkg_01jd3w9k6v0m3y0q6d2x9t7h1e"}
    assert error_fields(
        assert_problem(tenant.client.post("/v1/bookings", json=malformed), 422, "validation_failed")
    ) == ["hold_id"]
    unknown = {**body, "hold_id": "hld_01jd3w9k6v0m3y0q6d2x9t7h1e"}
    assert_problem(tenant.client.post("/v1/bookings", json=unknown), 404, "not_found")
    # None of these touched the hold, which still blocks the time.
    assert tenant.client.get(f"/v1/holds/{held['id']}").json()["status"] == "active"
    assert_problem(tenant.client.post("/v1/bookings", json=body), 409, "booking_conflict")

    expire_now(tenant, held["id"])
    assert_problem(tenant.client.post("/v1/bookings", json={**body, "hold_id": held["id"]}), 410, "hold_expired")

    released = create_hold(tenant.client, body)
    assert tenant.client.delete(f"/v1/holds/{released['id']}").status_code == 200
    response = tenant.client.post("/v1/bookings", json={**body, "hold_id": released["id"]})
    assert_problem(response, 409, "hold_not_active")
    with tenant.db.read() as session:
        count = session.scalar(select(func.count()).select_from(Booking).where(Booking.host_id == host["id"]))
    assert count == 0


# --- release ----------------------------------------------------------------------------------


def test_release_frees_the_time_and_answers_the_same_again(tenant: Tenant) -> None:
    host = tenant.create_user()
    body = hold_body(host["id"], f"{MONDAY}T16:00:00", duration_minutes=30)
    held = create_hold(tenant.client, body)
    response = tenant.client.delete(f"/v1/holds/{held['id']}")
    assert response.status_code == 200, response.text
    released = response.json()
    assert released == {**held, "status": "released"}
    again = tenant.client.delete(f"/v1/holds/{held['id']}")
    assert again.status_code == 200
    assert again.json() == released
    assert tenant.client.get(f"/v1/holds/{held['id']}").json() == released
    create_booking(tenant.client, body)


def test_releasing_an_expired_hold_shows_it_expired(tenant: Tenant) -> None:
    host = tenant.create_user()
    held = create_hold(tenant.client, hold_body(host["id"], f"{MONDAY}T16:00:00", duration_minutes=30))
    expire_now(tenant, held["id"])
    response = tenant.client.delete(f"/v1/holds/{held['id']}")
    assert response.status_code == 200
    assert response.json()["status"] == "expired"


# --- races ------------------------------------------------------------------------------------


def race(tenant: Tenant, attempts: list[Callable[[httpx.Client], httpx.Response]]) -> list[httpx.Response]:
    barrier = threading.Barrier(len(attempts))

    def run(attempt: Callable[[httpx.Client], httpx.Response]) -> httpx.Response:
        with tenant.key_client(tenant.key) as client:
            barrier.wait(timeout=30)
            return attempt(client)

    with ThreadPoolExecutor(max_workers=len(attempts)) as pool:
        responses = list(pool.map(run, attempts))
    assert all(r.status_code < 500 for r in responses), [r.text for r in responses if r.status_code >= 500]
    return responses


def live_blocks(tenant: Tenant, host_id: str) -> tuple[int, int]:
    """(confirmed bookings, live holds) of the host."""
    with tenant.db.read() as session:
        bookings = session.scalar(
            select(func.count()).select_from(Booking).where(Booking.host_id == host_id, Booking.status == "confirmed")
        )
        holds = session.scalar(
            select(func.count())
            .select_from(Hold)
            .where(Hold.host_id == host_id, Hold.status == "active", Hold.expires_at > utcnow())
        )
    return int(bookings or 0), int(holds or 0)


def post(client: httpx.Client, *, path: str, body: dict[str, Any]) -> httpx.Response:
    return client.post(path, json=body)


def test_holds_and_bookings_racing_for_one_slot_give_it_once(tenant: Tenant) -> None:
    host = tenant.create_user()
    body = hold_body(host["id"], f"{MONDAY}T11:00:00", f"{MONDAY}T11:30:00")
    overlapping = hold_body(host["id"], f"{MONDAY}T11:15:00", f"{MONDAY}T11:45:00")
    attempts: list[Callable[[httpx.Client], httpx.Response]] = []
    for i in range(24):
        path = "/v1/holds" if i % 2 else "/v1/bookings"
        sent = body if i % 3 else overlapping
        attempts.append(functools.partial(post, path=path, body=sent))
    responses = race(tenant, attempts)
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 1, statuses
    assert statuses.count(409) == len(attempts) - 1, statuses
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "booking_conflict")
    assert sum(live_blocks(tenant, host["id"])) == 1


def test_holds_racing_for_one_slot_give_it_once(tenant: Tenant) -> None:
    host = tenant.create_user()
    body = hold_body(host["id"], f"{MONDAY}T12:00:00", f"{MONDAY}T12:30:00")
    responses = race(tenant, [lambda client: client.post("/v1/holds", json=body)] * 20)
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 1, statuses
    winner = next(r.json() for r in responses if r.status_code == 201)
    for response in responses:
        if response.status_code == 409:
            problem = assert_problem(response, 409, "booking_conflict")
            assert [c["hold_id"] for c in problem["conflicts"]] == [winner["id"]]
    assert live_blocks(tenant, host["id"]) == (0, 1)


def test_convert_and_release_racing_for_one_hold_do_one_thing(tenant: Tenant) -> None:
    host = tenant.create_user()
    body = hold_body(host["id"], f"{MONDAY}T14:00:00", duration_minutes=30)
    held = create_hold(tenant.client, body)
    converting = {**body, "hold_id": held["id"]}
    attempts: list[Callable[[httpx.Client], httpx.Response]] = [
        lambda client: client.post("/v1/bookings", json=converting),
        lambda client: client.delete(f"/v1/holds/{held['id']}"),
    ] * 6
    responses = race(tenant, attempts)
    final = tenant.client.get(f"/v1/holds/{held['id']}").json()
    created = [r for r in responses if r.request.method == "POST" and r.status_code == 201]
    if final["status"] == "converted":
        assert len(created) == 1
        assert final["booking_id"] == created[0].json()["id"]
        assert live_blocks(tenant, host["id"]) == (1, 0)
    else:
        assert final["status"] == "released"
        assert created == []
        assert live_blocks(tenant, host["id"]) == (0, 0)
    for response in responses:
        if response.status_code >= 400:
            assert_problem(response, 409, "hold_not_active")
