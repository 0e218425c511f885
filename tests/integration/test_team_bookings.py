"""Team bookings over HTTP: collective bookings (``host_ids``: every host booked at once) and
round robin (``host_pool``: Hub picks the least booked free host), their cancel, reschedule and
holds, ``expand=hosts``, tenant isolation, and races that never double-book any host."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from hub.db import Database
from hub.db.tables import BookingHost
from tests.integration.helpers import BERLIN, MONDAY, TUESDAY, assert_problem, booking, create_booking, error_fields
from tests.support.servers import LiveServer
from tests.support.tenants import Tenant

NEXT_MONDAY = "2030-12-09"


@pytest.fixture
def other(live_server: LiveServer, db: Database) -> Iterator[Tenant]:
    """A second organization."""
    t = Tenant(live_server.url, db)
    yield t
    t.close()


def team(host_ids: list[str], start: str, end: str | None = None, **extra: Any) -> dict[str, Any]:
    body = booking(host_ids[0], start, end, **extra)
    del body["host_id"]
    return {"host_ids": host_ids, **body}


def pool(user_ids: list[str], start: str, end: str | None = None, **extra: Any) -> dict[str, Any]:
    body = booking(user_ids[0], start, end, **extra)
    del body["host_id"]
    return {"host_pool": {"user_ids": user_ids, "assignment": "least_booked"}, **body}


def users(tenant: Tenant, count: int) -> list[str]:
    return [tenant.create_user(name=f"Host {i}", email=f"host{i}@example.com")["id"] for i in range(count)]


# --- collective -------------------------------------------------------------------------------


def test_a_collective_booking_books_every_host(tenant: Tenant) -> None:
    a, b = users(tenant, 2)
    created = create_booking(tenant.client, team([a, b], f"{MONDAY}T09:00:00", f"{MONDAY}T09:30:00", title="Panel"))
    assert created["host_id"] == a
    assert created["host_ids"] == [a, b]
    assert created["assignment"] is None
    assert "hosts" not in created
    # Each host's time is taken: a single booking of either one conflicts.
    for host in (a, b):
        clash = tenant.client.post("/v1/bookings", json=booking(host, f"{MONDAY}T09:15:00", duration_minutes=30))
        problem = assert_problem(clash, 409, "booking_conflict")
        assert [c["booking_id"] for c in problem["conflicts"]] == [created["id"]]
    # ?host_id= lists it for every host.
    for host in (a, b):
        listed = tenant.client.get("/v1/bookings", params={"host_id": host}).json()["data"]
        assert [x["id"] for x in listed] == [created["id"]]
    assert tenant.client.get(f"/v1/bookings/{created['id']}").json() == created


def test_a_collective_conflict_names_the_busy_host(tenant: Tenant) -> None:
    a, b, c = users(tenant, 3)
    busy = create_booking(tenant.client, booking(b, f"{MONDAY}T10:00:00", duration_minutes=30))
    response = tenant.client.post("/v1/bookings", json=team([a, b, c], f"{MONDAY}T10:00:00", duration_minutes=60))
    problem = assert_problem(response, 409, "booking_conflict")
    assert [(x["host_id"], x["source"], x["booking_id"]) for x in problem["conflicts"]] == [(b, "booking", busy["id"])]
    assert b in problem["detail"]
    with tenant.db.read() as session:  # nothing of the refused booking was written
        rows = session.scalar(select(func.count()).select_from(BookingHost).where(BookingHost.host_id.in_([a, c])))
    assert rows == 0


def test_single_host_bookings_keep_their_shape(tenant: Tenant) -> None:
    host = tenant.create_user()["id"]
    created = create_booking(tenant.client, booking(host, f"{MONDAY}T11:00:00", duration_minutes=30))
    assert created["host_ids"] == [host]
    assert created["assignment"] is None
    assert "hosts" not in created
    clash = tenant.client.post("/v1/bookings", json=booking(host, f"{MONDAY}T11:00:00", duration_minutes=30))
    problem = assert_problem(clash, 409, "booking_conflict")
    assert "host_id" not in problem["conflicts"][0]  # a single host's conflicts are as before


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"host_id": "HOST"}, "host_ids"),  # both host_id and host_ids
        ({"host_ids": None}, "host_id"),  # neither
        ({"host_ids": []}, "host_ids"),
        ({"host_ids": ["HOST", "HOST"]}, "host_ids"),
        ({"host_ids": [f"usr_{i:026d}" for i in range(21)]}, "host_ids"),
        ({"host_ids": ["bkg_01jd3w9k6v0m3y0q6d2x9t7h1e"]}, "host_ids[0]"),
        ({"host_pool": {"user_ids": ["HOST"], "assignment": "busiest"}}, "host_pool.assignment"),
    ],
)
def test_invalid_host_choices_are_refused(tenant: Tenant, changes: dict[str, Any], field: str) -> None:
    host = tenant.create_user()["id"]
    body = {**team([host], f"{MONDAY}T12:00:00", duration_minutes=30)}
    for key, value in changes.items():
        value = host if value == "HOST" else value
        if isinstance(value, list):
            value = [host if v == "HOST" else v for v in value]
        if isinstance(value, dict):
            value = {**value, "user_ids": [host]}
        body[key] = value
    body = {k: v for k, v in body.items() if v is not None}
    response = tenant.client.post("/v1/bookings", json=body)
    problem = assert_problem(response, 422, "validation_failed")
    assert field in error_fields(problem)


def test_another_organizations_user_is_not_found(tenant: Tenant, other: Tenant) -> None:
    mine = tenant.create_user()["id"]
    theirs = other.create_user()["id"]
    for body in (
        team([mine, theirs], f"{MONDAY}T13:00:00", duration_minutes=30),
        pool([mine, theirs], f"{MONDAY}T13:00:00", duration_minutes=30),
    ):
        assert_problem(tenant.client.post("/v1/bookings", json=body), 404, "not_found")
    hold = team([mine, theirs], f"{MONDAY}T13:00:00", duration_minutes=30)
    assert_problem(tenant.client.post("/v1/holds", json=hold), 404, "not_found")
    # Nothing was booked for either user.
    assert tenant.client.get("/v1/bookings", params={"host_id": mine}).json()["data"] == []
    assert other.client.get("/v1/bookings", params={"host_id": theirs}).json()["data"] == []


# --- expand -----------------------------------------------------------------------------------


def test_expand_hosts_adds_the_users(tenant: Tenant) -> None:
    a, b = users(tenant, 2)
    created = create_booking(tenant.client, team([b, a], f"{TUESDAY}T09:00:00", duration_minutes=30))
    one = tenant.client.get(f"/v1/bookings/{created['id']}", params={"expand": "hosts"})
    assert one.status_code == 200, one.text
    hosts = one.json()["hosts"]
    assert [h["id"] for h in hosts] == [b, a]
    assert hosts[0] == tenant.client.get(f"/v1/users/{b}").json()
    listed = tenant.client.get("/v1/bookings", params={"host_id": a, "expand": "hosts"}).json()["data"]
    assert [[h["object"] for h in x["hosts"]] for x in listed] == [["user", "user"]]
    plain = tenant.client.get("/v1/bookings", params={"host_id": a}).json()["data"]
    assert "hosts" not in plain[0]
    for path in (f"/v1/bookings/{created['id']}", "/v1/bookings"):
        problem = assert_problem(tenant.client.get(path, params={"expand": "hosts,guests"}), 422, "validation_failed")
        assert error_fields(problem) == ["expand"]


# --- round robin ------------------------------------------------------------------------------


def test_round_robin_picks_the_least_booked_host_with_the_tie_rules(tenant: Tenant) -> None:
    a, b, c, d = users(tenant, 4)
    # a: one booking in the 30 days before the slot; b and d: none in those days, only older ones
    # (b's latest on 1 October, d's on 2 September); c: never booked.
    create_booking(tenant.client, booking(a, f"{TUESDAY}T09:00:00", duration_minutes=30))
    create_booking(tenant.client, booking(b, "2030-10-01T09:00:00", duration_minutes=30))
    create_booking(tenant.client, booking(d, "2030-09-02T09:00:00", duration_minutes=30))
    slot = f"{NEXT_MONDAY}T10:00:00"

    first = create_booking(tenant.client, pool([a, b, c, d], slot, duration_minutes=30))
    assert first["host_ids"] == [c]  # no booking at all comes first
    assert first["host_id"] == c
    assert first["assignment"] == {
        "strategy": "least_booked",
        "pool": [a, b, c, d],
        "reason": "fewest bookings in the last 30 days: 0; tie broken: no earlier booking",
    }
    second = create_booking(tenant.client, pool([a, b, d], slot, duration_minutes=30))
    assert second["host_id"] == d  # tied at 0: d's latest booking (September) is earlier than b's
    assert second["assignment"]["reason"].startswith("fewest bookings in the last 30 days: 0; tie broken: latest")
    third = create_booking(tenant.client, pool([a, b], slot, duration_minutes=30))
    assert third["host_id"] == b  # 0 bookings in the window against a's 1
    assert third["assignment"]["reason"] == "fewest bookings in the last 30 days: 0"
    # Only a is left free at that slot; then nobody is.
    fourth = create_booking(tenant.client, pool([c, a], slot, duration_minutes=30))
    assert fourth["host_id"] == a
    problem = assert_problem(
        tenant.client.post("/v1/bookings", json=pool([a, b, c, d], slot, duration_minutes=30)), 409, "booking_conflict"
    )
    assert sorted({x["host_id"] for x in problem["conflicts"]}) == sorted([a, b, c, d])
    assert tenant.client.get(f"/v1/bookings/{first['id']}").json() == first


def test_round_robin_ties_on_everything_go_to_the_smallest_id(tenant: Tenant) -> None:
    first, second = users(tenant, 2)
    created = create_booking(tenant.client, pool([second, first], f"{MONDAY}T14:00:00", duration_minutes=30))
    assert created["host_id"] == min(first, second)
    assert created["assignment"]["pool"] == [second, first]
    assert created["assignment"]["reason"] == "fewest bookings in the last 30 days: 0; tie broken: smallest id"


def test_round_robin_skips_hosts_outside_their_working_hours(tenant: Tenant) -> None:
    late = tenant.create_user(
        working_hours=[{"weekday": "mon", "start": "14:00", "end": "18:00"}], name="Late", email="late@example.com"
    )["id"]
    early = tenant.create_user()["id"]  # 09:00-17:00
    created = create_booking(tenant.client, pool([late, early], f"{MONDAY}T09:00:00", duration_minutes=30))
    assert created["host_id"] == early
    nobody = tenant.client.post("/v1/bookings", json=pool([late, early], f"{MONDAY}T19:00:00", duration_minutes=30))
    assert_problem(nobody, 409, "outside_availability")


# --- races ------------------------------------------------------------------------------------


def _race(tenant: Tenant, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    barrier = threading.Barrier(len(bodies))

    def attempt(body: dict[str, Any]) -> httpx.Response:
        with tenant.key_client(tenant.key) as client:
            barrier.wait(timeout=30)
            return client.post("/v1/bookings", json=body)

    with ThreadPoolExecutor(max_workers=len(bodies)) as executor:
        responses = list(executor.map(attempt, bodies))
    assert all(r.status_code < 500 for r in responses), [r.text for r in responses if r.status_code >= 500]
    return responses


def test_twenty_four_pool_bookings_into_one_slot_book_each_of_four_hosts_once(tenant: Tenant) -> None:
    hosts = users(tenant, 4)
    responses = _race(tenant, [pool(hosts, f"{MONDAY}T15:00:00", duration_minutes=30)] * 24)
    won = [r.json() for r in responses if r.status_code == 201]
    assert len(won) == 4, [r.status_code for r in responses]
    assert sorted(b["host_id"] for b in won) == sorted(hosts)
    for response in responses:
        if response.status_code != 201:
            assert_problem(response, 409, "booking_conflict")
    with tenant.db.read() as session:
        per_host = dict(
            session.execute(
                select(BookingHost.host_id, func.count())
                .where(BookingHost.host_id.in_(hosts), BookingHost.status == "confirmed")
                .group_by(BookingHost.host_id)
            ).all()
        )
    assert per_host == dict.fromkeys(hosts, 1)


def test_a_collective_booking_racing_single_bookings_of_its_host_loses_or_wins_alone(tenant: Tenant) -> None:
    a, b = users(tenant, 2)
    slot = f"{MONDAY}T16:00:00"
    bodies = [team([a, b], slot, duration_minutes=30)] + [booking(b, slot, duration_minutes=30)] * 7
    responses = _race(tenant, bodies)
    assert [r.status_code for r in responses].count(201) == 1, [r.status_code for r in responses]
    winner = next(r.json() for r in responses if r.status_code == 201)
    for response in responses:
        if response.status_code != 201:
            problem = assert_problem(response, 409, "booking_conflict")
            assert [c["booking_id"] for c in problem["conflicts"]] == [winner["id"]]
    with tenant.db.read() as session:
        confirmed = session.scalar(
            select(func.count())
            .select_from(BookingHost)
            .where(BookingHost.host_id == b, BookingHost.status == "confirmed")
        )
    assert confirmed == 1


# --- cancel, reschedule -----------------------------------------------------------------------


def test_cancelling_a_collective_booking_frees_every_host(tenant: Tenant) -> None:
    a, b = users(tenant, 2)
    created = create_booking(tenant.client, team([a, b], f"{TUESDAY}T10:00:00", duration_minutes=30))
    cancelled = tenant.client.post(f"/v1/bookings/{created['id']}/cancel", json={"reason": "moved"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["host_ids"] == [a, b]
    for host in (a, b):
        create_booking(tenant.client, booking(host, f"{TUESDAY}T10:00:00", duration_minutes=30))


def test_rescheduling_a_collective_booking_needs_every_host_free(tenant: Tenant) -> None:
    a, b = users(tenant, 2)
    created = create_booking(tenant.client, team([a, b], f"{TUESDAY}T11:00:00", duration_minutes=30))
    busy = create_booking(tenant.client, booking(b, f"{TUESDAY}T13:00:00", duration_minutes=30))
    path = f"/v1/bookings/{created['id']}/reschedule"
    refused = tenant.client.post(
        path, json={"start": f"{TUESDAY}T13:00:00", "duration_minutes": 30, "timezone": BERLIN}
    )
    problem = assert_problem(refused, 409, "booking_conflict")
    assert [(c["host_id"], c["booking_id"]) for c in problem["conflicts"]] == [(b, busy["id"])]
    moved = tenant.client.post(path, json={"start": f"{TUESDAY}T14:00:00", "duration_minutes": 30, "timezone": BERLIN})
    assert moved.status_code == 200, moved.text
    assert moved.json()["host_ids"] == [a, b]
    assert moved.json()["start"] == "2030-12-03T13:00:00Z"
    # The old time is free for both hosts, the new one taken for both.
    for host in (a, b):
        create_booking(tenant.client, booking(host, f"{TUESDAY}T11:00:00", duration_minutes=30))
        clash = tenant.client.post("/v1/bookings", json=booking(host, f"{TUESDAY}T14:00:00", duration_minutes=30))
        assert_problem(clash, 409, "booking_conflict")


def test_a_round_robin_booking_keeps_its_host_when_rescheduled(tenant: Tenant) -> None:
    a, b = users(tenant, 2)
    created = create_booking(tenant.client, pool([a, b], f"{TUESDAY}T15:00:00", duration_minutes=30))
    host, other_host = created["host_id"], ({a, b} - {created["host_id"]}).pop()
    path = f"/v1/bookings/{created['id']}/reschedule"
    moved = tenant.client.post(path, json={"start": f"{TUESDAY}T15:30:00", "duration_minutes": 30, "timezone": BERLIN})
    assert moved.status_code == 200, moved.text
    assert moved.json()["host_id"] == host
    assert moved.json()["assignment"] == created["assignment"]
    create_booking(tenant.client, booking(host, f"{TUESDAY}T16:00:00", duration_minutes=30))
    refused = tenant.client.post(
        path, json={"start": f"{TUESDAY}T16:00:00", "duration_minutes": 30, "timezone": BERLIN}
    )
    problem = assert_problem(refused, 409, "booking_conflict")
    assert {c["host_id"] for c in problem["conflicts"]} == {host}
    assert host in problem["detail"]
    assert "not reassign" in problem["detail"]
    after = tenant.client.get(f"/v1/bookings/{created['id']}").json()
    assert (after["host_id"], after["start"]) == (host, moved.json()["start"])  # no silent reassignment
    assert other_host not in after["host_ids"]


# --- holds ------------------------------------------------------------------------------------


def test_a_team_hold_blocks_each_host_and_becomes_a_booking_of_the_same_hosts(tenant: Tenant) -> None:
    a, b = users(tenant, 2)
    body = team([a, b], f"{TUESDAY}T09:00:00", duration_minutes=30)
    response = tenant.client.post("/v1/holds", json=body)
    assert response.status_code == 201, response.text
    hold = response.json()
    assert (hold["host_id"], hold["host_ids"]) == (a, [a, b])
    clash = tenant.client.post("/v1/bookings", json=booking(b, f"{TUESDAY}T09:00:00", duration_minutes=30))
    problem = assert_problem(clash, 409, "booking_conflict")
    assert [(c["source"], c["hold_id"]) for c in problem["conflicts"]] == [("hold", hold["id"])]
    second = tenant.client.post("/v1/holds", json=team([b, a], f"{TUESDAY}T09:15:00", duration_minutes=30))
    assert {c["host_id"] for c in assert_problem(second, 409, "booking_conflict")["conflicts"]} == {a, b}
    # Converting needs the hold's hosts (in any order).
    wrong = tenant.client.post(
        "/v1/bookings", json={**booking(a, f"{TUESDAY}T09:00:00", duration_minutes=30), "hold_id": hold["id"]}
    )
    assert error_fields(assert_problem(wrong, 422, "validation_failed")) == ["host_ids"]
    converted = create_booking(
        tenant.client, {**team([b, a], f"{TUESDAY}T09:00:00", duration_minutes=30), "hold_id": hold["id"]}
    )
    assert converted["host_ids"] == [b, a]
    assert tenant.client.get(f"/v1/holds/{hold['id']}").json()["status"] == "converted"
    with_pool = tenant.client.post(
        "/v1/bookings", json={**pool([a, b], f"{TUESDAY}T09:00:00", duration_minutes=30), "hold_id": hold["id"]}
    )
    assert error_fields(assert_problem(with_pool, 422, "validation_failed")) == ["hold_id"]


# --- idempotency ------------------------------------------------------------------------------


def test_a_round_robin_create_replays_its_answer(tenant: Tenant) -> None:
    hosts = users(tenant, 2)
    body = pool(hosts, f"{TUESDAY}T12:00:00", duration_minutes=30)
    first = tenant.client.post("/v1/bookings", json=body, headers={"Idempotency-Key": "rr-1"})
    again = tenant.client.post("/v1/bookings", json=body, headers={"Idempotency-Key": "rr-1"})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert (
        len(tenant.client.get("/v1/bookings", params={"host_id": hosts[0]}).json()["data"])
        + len(tenant.client.get("/v1/bookings", params={"host_id": hosts[1]}).json()["data"])
        == 1
    )
