"""``POST /v1/bookings/{id}/reschedule`` over HTTP: the same id at the new time, the rules of
create (zones, DST, working hours, ignore_availability), the booking's own time never in the
way, cancelled bookings refused, unchanged times, idempotent replays, tenancy, and a move
racing creates into the same slot."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from hub.db.tables import Booking, OutboxMessage
from tests.integration.helpers import BERLIN, MONDAY, TUESDAY, assert_problem, booking, create_booking
from tests.support.tenants import Tenant


def reschedule(client: httpx.Client, booking_id: str, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
    return client.post(f"/v1/bookings/{booking_id}/reschedule", json=body, **kwargs)


def moved(client: httpx.Client, booking_id: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    response = reschedule(client, booking_id, body, **kwargs)
    assert response.status_code == 200, response.text
    return dict(response.json())


def events_of(tenant: Tenant, booking_id: str, event_type: str = "booking.rescheduled") -> int:
    with tenant.db.read() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.aggregate_id == booking_id, OutboxMessage.event_type == event_type)
            )
            or 0
        )


def test_a_new_booking_was_never_moved(tenant: Tenant) -> None:
    host = tenant.create_user()
    created = create_booking(tenant.client, booking(host["id"], f"{MONDAY}T09:00:00", duration_minutes=30))
    assert (created["reschedule_count"], created["rescheduled_at"], created["previous"]) == (0, None, None)


def test_reschedule_keeps_the_id_and_moves_the_times(tenant: Tenant) -> None:
    host = tenant.create_user()
    created = create_booking(tenant.client, booking(host["id"], f"{MONDAY}T09:00:00", duration_minutes=30))
    out = moved(
        tenant.client,
        created["id"],
        {"start": f"{TUESDAY}T14:00:00", "end": f"{TUESDAY}T14:45:00", "timezone": BERLIN, "reason": "clash"},
    )
    assert out["id"] == created["id"]
    assert (out["start"], out["end"]) == ("2030-12-03T13:00:00Z", "2030-12-03T13:45:00Z")
    assert (out["local_start"], out["local_end"]) == ("2030-12-03T14:00:00+01:00", "2030-12-03T14:45:00+01:00")
    assert out["requested"] == {
        "start": f"{TUESDAY}T14:00:00",
        "end": f"{TUESDAY}T14:45:00",
        "timezone": BERLIN,
        "duration_minutes": None,
    }
    assert out["reschedule_count"] == 1
    assert out["rescheduled_at"] is not None
    assert out["previous"] == {"start": created["start"], "end": created["end"]}
    assert tenant.client.get(f"/v1/bookings/{created['id']}").json() == out
    # moved again: previous is the time before the last move
    again = moved(tenant.client, created["id"], {"start": "2030-12-03T15:00:00Z", "duration_minutes": 15})
    assert again["reschedule_count"] == 2
    assert again["previous"] == {"start": out["start"], "end": out["end"]}
    assert again["timezone"] == BERLIN  # kept when none is sent
    assert events_of(tenant, created["id"]) == 2


def test_the_old_time_is_free_and_the_new_one_taken(tenant: Tenant) -> None:
    host = tenant.create_user()
    old = booking(host["id"], f"{MONDAY}T10:00:00", duration_minutes=60)
    created = create_booking(tenant.client, old)
    moved(tenant.client, created["id"], {"start": f"{MONDAY}T13:00:00", "duration_minutes": 60, "timezone": BERLIN})
    assert_problem(
        tenant.client.post("/v1/bookings", json=booking(host["id"], f"{MONDAY}T13:30:00", duration_minutes=30)),
        409,
        "booking_conflict",
    )
    create_booking(tenant.client, old)  # the old time is free again


def test_its_own_current_time_does_not_conflict(tenant: Tenant) -> None:
    host = tenant.create_user(buffer_minutes=15)
    created = create_booking(tenant.client, booking(host["id"], f"{MONDAY}T10:00:00", duration_minutes=60))
    out = moved(
        tenant.client, created["id"], {"start": f"{MONDAY}T10:30:00", "duration_minutes": 60, "timezone": BERLIN}
    )
    assert out["local_start"] == "2030-12-02T10:30:00+01:00"


def test_another_booking_in_the_way_is_a_conflict_and_nothing_changes(tenant: Tenant) -> None:
    host = tenant.create_user()
    first = create_booking(tenant.client, booking(host["id"], f"{MONDAY}T10:00:00", duration_minutes=30))
    other = create_booking(tenant.client, booking(host["id"], f"{MONDAY}T11:00:00", duration_minutes=30))
    problem = assert_problem(
        reschedule(
            tenant.client, first["id"], {"start": f"{MONDAY}T11:15:00", "duration_minutes": 30, "timezone": BERLIN}
        ),
        409,
        "booking_conflict",
    )
    assert [c["booking_id"] for c in problem["conflicts"]] == [other["id"]]
    assert tenant.client.get(f"/v1/bookings/{first['id']}").json() == first
    assert events_of(tenant, first["id"]) == 0


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"start": "2031-03-30T02:30:00", "duration_minutes": 30, "timezone": BERLIN}, 422, "nonexistent_local_time"),
        ({"start": "2030-10-27T02:30:00", "duration_minutes": 30, "timezone": BERLIN}, 422, "ambiguous_local_time"),
        ({"start": f"{MONDAY}T10:00:00", "duration_minutes": 30, "timezone": "Mars/Olympus"}, 422, "unknown_timezone"),
        ({"start": f"{MONDAY}T10:00:00", "duration_minutes": 30}, 422, "validation_failed"),
        ({"start": f"{MONDAY}T10:00:00", "timezone": BERLIN}, 422, "validation_failed"),
        ({"start": f"{MONDAY}T10:00:00", "end": f"{MONDAY}T09:00:00", "timezone": BERLIN}, 422, "validation_failed"),
        ({"start": f"{MONDAY}T18:00:00", "duration_minutes": 30, "timezone": BERLIN}, 409, "outside_availability"),
        ({"start": "2020-01-06T10:00:00", "duration_minutes": 30, "timezone": BERLIN}, 409, "outside_availability"),
    ],
)
def test_the_rules_of_create_apply(tenant: Tenant, body: dict[str, Any], status: int, code: str) -> None:
    host = tenant.create_user(working_hours=[{"weekday": d, "start": "00:00", "end": "24:00"} for d in ("sun", "mon")])
    if code == "outside_availability" and body["start"].startswith(MONDAY):
        host = tenant.create_user()
    created = create_booking(tenant.client, booking(host["id"], f"{MONDAY}T10:00:00", duration_minutes=30))
    assert_problem(reschedule(tenant.client, created["id"], body), status, code)
    assert tenant.client.get(f"/v1/bookings/{created['id']}").json()["reschedule_count"] == 0


def test_ignore_availability_needs_owner_or_member(tenant: Tenant) -> None:
    host = tenant.create_user()
    created = create_booking(tenant.client, booking(host["id"], f"{MONDAY}T10:00:00", duration_minutes=30))
    body = {"start": f"{MONDAY}T19:00:00", "duration_minutes": 30, "timezone": BERLIN, "ignore_availability": True}
    with tenant.key_client(tenant.create_key(role="app", scopes=["bookings:write"])) as app:
        assert_problem(reschedule(app, created["id"], body), 403, "insufficient_scope")
    assert moved(tenant.client, created["id"], body)["local_start"] == "2030-12-02T19:00:00+01:00"


def test_a_cancelled_booking_cannot_be_rescheduled(tenant: Tenant) -> None:
    host = tenant.create_user()
    created = create_booking(tenant.client, booking(host["id"], f"{MONDAY}T10:00:00", duration_minutes=30))
    assert tenant.client.post(f"/v1/bookings/{created['id']}/cancel", json={}).status_code == 200
    body = {"start": f"{MONDAY}T12:00:00", "duration_minutes": 30, "timezone": BERLIN}
    assert_problem(reschedule(tenant.client, created["id"], body), 409, "booking_cancelled")
    # also when the request asks for the times the booking already has
    same = {"start": created["start"], "end": created["end"]}
    assert_problem(reschedule(tenant.client, created["id"], same), 409, "booking_cancelled")
    assert events_of(tenant, created["id"]) == 0


def test_the_times_it_already_has_answer_it_unchanged(tenant: Tenant) -> None:
    host = tenant.create_user()
    created = create_booking(tenant.client, booking(host["id"], f"{MONDAY}T10:00:00", duration_minutes=30))
    same = moved(
        tenant.client, created["id"], {"start": f"{MONDAY}T10:00:00", "end": f"{MONDAY}T10:30:00", "timezone": BERLIN}
    )
    assert same == created
    assert events_of(tenant, created["id"]) == 0
    out = moved(
        tenant.client, created["id"], {"start": f"{MONDAY}T11:00:00", "duration_minutes": 30, "timezone": BERLIN}
    )
    again = moved(tenant.client, created["id"], {"start": out["start"], "end": out["end"]})
    assert again == out
    assert again["reschedule_count"] == 1
    assert events_of(tenant, created["id"]) == 1


def test_an_idempotent_replay_answers_the_same_and_moves_once(tenant: Tenant) -> None:
    host = tenant.create_user()
    created = create_booking(tenant.client, booking(host["id"], f"{MONDAY}T10:00:00", duration_minutes=30))
    key = {"Idempotency-Key": f"move-{uuid.uuid4().hex}"}
    body = {"start": f"{MONDAY}T14:00:00", "duration_minutes": 30, "timezone": BERLIN}
    first = reschedule(tenant.client, created["id"], body, headers=key)
    assert first.status_code == 200, first.text
    replay = reschedule(tenant.client, created["id"], body, headers=key)
    assert replay.status_code == 200
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    assert first.json()["reschedule_count"] == 1
    assert events_of(tenant, created["id"]) == 1
    other = {**body, "start": f"{MONDAY}T15:00:00"}
    assert_problem(reschedule(tenant.client, created["id"], other, headers=key), 422, "idempotency_key_reused")


def test_another_organizations_booking_is_not_found(tenant: Tenant, other_tenant: Tenant) -> None:
    host = tenant.create_user()
    created = create_booking(tenant.client, booking(host["id"], f"{MONDAY}T10:00:00", duration_minutes=30))
    body = {"start": f"{MONDAY}T12:00:00", "duration_minutes": 30, "timezone": BERLIN}
    assert_problem(reschedule(other_tenant.client, created["id"], body), 404, "not_found")
    assert_problem(reschedule(tenant.client, "bkg_doesnotexist", body), 404, "not_found")
    assert tenant.client.get(f"/v1/bookings/{created['id']}").json() == created


def test_reschedule_needs_bookings_write(tenant: Tenant) -> None:
    host = tenant.create_user()
    created = create_booking(tenant.client, booking(host["id"], f"{MONDAY}T10:00:00", duration_minutes=30))
    with tenant.key_client(tenant.create_key(scopes=["bookings:read"])) as reader:
        body = {"start": f"{MONDAY}T12:00:00", "duration_minutes": 30, "timezone": BERLIN}
        assert_problem(reschedule(reader, created["id"], body), 403, "insufficient_scope")


def test_a_move_racing_creates_into_the_same_slot_lets_exactly_one_win(tenant: Tenant) -> None:
    host = tenant.create_user()
    mover = create_booking(tenant.client, booking(host["id"], f"{MONDAY}T09:00:00", duration_minutes=30))
    slot = {"start": f"{MONDAY}T15:00:00", "duration_minutes": 30, "timezone": BERLIN}
    workers = 24
    barrier = threading.Barrier(workers)

    def attempt(n: int) -> tuple[str, httpx.Response]:
        with tenant.key_client(tenant.key) as client:
            barrier.wait(timeout=30)
            if n % 8 == 0:  # three moves of the same booking among the creates
                return "move", reschedule(client, mover["id"], slot)
            return "create", client.post("/v1/bookings", json={"host_id": host["id"], **slot})

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(attempt, range(workers)))

    assert all(r.status_code < 500 for _, r in results), [r.text for _, r in results if r.status_code >= 500]
    wins = [(kind, r) for kind, r in results if r.status_code in (200, 201)]
    moves_won = [r for kind, r in wins if kind == "move"]
    creates_won = [r for kind, r in wins if kind == "create"]
    # one winner of the slot; a move that finds the booking already there answers it unchanged
    assert len(creates_won) + min(len(moves_won), 1) == 1, [(k, r.status_code) for k, r in results]
    for _, response in results:
        if response.status_code == 409:
            assert_problem(response, 409, "booking_conflict")
    with tenant.db.read() as session:
        rows = list(
            session.scalars(select(Booking).where(Booking.host_id == host["id"], Booking.status == "confirmed"))
        )
    in_slot = [b for b in rows if b.start_at.isoformat().startswith("2030-12-02T14:00")]
    assert len(in_slot) == 1
    if moves_won:
        assert in_slot[0].id == mover["id"]
        assert in_slot[0].reschedule_count == 1
