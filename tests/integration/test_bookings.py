"""``/v1/bookings`` over HTTP: create (local time, offset, duration), get, list, cancel, the
booking rules (conflicts, working hours, DST), and the concurrency guarantee."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from hub.bookings import service
from hub.db.tables import Booking
from tests.integration.helpers import (
    BERLIN,
    MONDAY,
    SATURDAY,
    assert_problem,
    booking,
    create_booking,
    error_fields,
    list_all,
)
from tests.support.tenants import Tenant

UTC_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


# --- create -----------------------------------------------------------------------------------


def test_create_with_local_time_and_timezone(tenant: Tenant) -> None:
    host = tenant.create_user()
    body = booking(
        host["id"],
        f"{MONDAY}T09:00:00",
        f"{MONDAY}T09:30:00",
        title="Intro call",
        attendees=[{"email": "guest@example.com", "name": "Guest"}],
        metadata={"crm_id": "42", "nested": {"n": 1}},
        client_timestamp="2030-12-01T10:00:00-05:00",
    )
    response = tenant.client.post("/v1/bookings", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert re.fullmatch(r"bkg_[0-9a-z]{26}", created["id"])
    assert created["object"] == "booking"
    assert created["status"] == "confirmed"
    assert created["host_id"] == host["id"]
    assert created["start"] == "2030-12-02T08:00:00Z"
    assert created["end"] == "2030-12-02T08:30:00Z"
    assert created["timezone"] == BERLIN
    assert created["local_start"] == "2030-12-02T09:00:00+01:00"
    assert created["local_end"] == "2030-12-02T09:30:00+01:00"
    assert created["requested"]["start"] == "2030-12-02T09:00:00"
    assert created["requested"]["end"] == "2030-12-02T09:30:00"
    assert created["requested"]["timezone"] == BERLIN
    assert created["client_timestamp"] == "2030-12-01T10:00:00-05:00"
    assert created["title"] == "Intro call"
    assert created["attendees"] == [{"email": "guest@example.com", "name": "Guest", "response": "needs_action"}]
    assert created["metadata"] == {"crm_id": "42", "nested": {"n": 1}}
    assert UTC_Z.match(created["created_at"])
    assert UTC_Z.match(created["updated_at"])
    assert created["cancelled_at"] is None
    assert created["cancellation_reason"] is None

    fetched = tenant.client.get(f"/v1/bookings/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created


def test_create_with_offset_keeps_the_hosts_zone(tenant: Tenant) -> None:
    host = tenant.create_user()
    created = create_booking(
        tenant.client,
        {"host_id": host["id"], "start": "2030-12-02T10:00:00+01:00", "end": "2030-12-02T09:30:00Z"},
    )
    assert created["start"] == "2030-12-02T09:00:00Z"
    assert created["end"] == "2030-12-02T09:30:00Z"
    assert created["timezone"] == BERLIN  # the host's, stored although the request had offsets
    assert created["local_start"] == "2030-12-02T10:00:00+01:00"
    assert created["requested"]["timezone"] is None


def test_create_with_offset_and_another_timezone_renders_in_that_zone(tenant: Tenant) -> None:
    host = tenant.create_user()
    created = create_booking(
        tenant.client,
        {
            "host_id": host["id"],
            "start": "2030-12-02T06:00:00-05:00",
            "duration_minutes": 45,
            "timezone": "America/New_York",
        },
    )
    assert created["start"] == "2030-12-02T11:00:00Z"
    assert created["end"] == "2030-12-02T11:45:00Z"
    assert created["timezone"] == "America/New_York"
    assert created["local_start"] == "2030-12-02T06:00:00-05:00"
    assert created["local_end"] == "2030-12-02T06:45:00-05:00"


def test_create_with_duration_minutes(tenant: Tenant) -> None:
    host = tenant.create_user()
    created = create_booking(tenant.client, booking(host["id"], f"{MONDAY}T14:15:00", duration_minutes=90))
    assert created["start"] == "2030-12-02T13:15:00Z"
    assert created["end"] == "2030-12-02T14:45:00Z"
    assert created["local_end"] == "2030-12-02T15:45:00+01:00"
    assert created["requested"]["end"] is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"end": f"{MONDAY}T08:30:00"}, "end"),  # before start
        ({"end": f"{MONDAY}T09:00:00"}, "end"),  # empty
        ({"end": "2030-12-03T09:00:01"}, "end"),  # longer than 24 hours
        ({"end": None, "duration_minutes": 1441}, "duration_minutes"),
        ({"end": None, "duration_minutes": 0}, "duration_minutes"),
        ({"end": None}, "end"),  # neither end nor duration_minutes
        ({"duration_minutes": 30}, "end"),  # both
        ({"start": "2030-12-02"}, "start"),
        ({"start": "next monday"}, "start"),
        ({"start": "2030-02-30T09:00:00"}, "start"),
        ({"start": 1700000000}, "start"),
        ({"host_id": "not-a-user"}, "host_id"),
        ({"host_id": 42}, "host_id"),
        ({"attendees": [{"email": "nope"}]}, "attendees[0].email"),
        ({"attendees": [{"name": "No Email"}]}, "attendees[0].email"),
        ({"client_timestamp": "yesterday"}, "client_timestamp"),
        ({"metadata": ["a"]}, "metadata"),
        ({"title": "x" * 501}, "title"),
    ],
)
def test_invalid_requests_name_the_field(tenant: Tenant, changes: dict[str, Any], field: str) -> None:
    host = tenant.create_user()
    body = {**booking(host["id"], f"{MONDAY}T09:00:00", f"{MONDAY}T10:00:00"), **changes}
    body = {k: v for k, v in body.items() if v is not None}
    problem = assert_problem(tenant.client.post("/v1/bookings", json=body), 422, "validation_failed")
    assert field in error_fields(problem)


def test_exactly_24_hours_is_allowed(tenant: Tenant) -> None:
    host = tenant.create_user()
    created = create_booking(
        tenant.client,
        booking(host["id"], f"{MONDAY}T09:00:00", "2030-12-03T09:00:00", ignore_availability=True),
    )
    assert created["end"] == "2030-12-03T08:00:00Z"


def test_local_time_without_timezone_is_refused(tenant: Tenant) -> None:
    host = tenant.create_user()
    body = {"host_id": host["id"], "start": f"{MONDAY}T09:00:00", "end": f"{MONDAY}T09:30:00"}
    problem = assert_problem(tenant.client.post("/v1/bookings", json=body), 422, "validation_failed")
    assert error_fields(problem) == ["start"]


def test_unknown_timezone(tenant: Tenant) -> None:
    host = tenant.create_user()
    for zone in ("Europe/Berlln", "CET+1", ""):
        body = booking(host["id"], f"{MONDAY}T09:00:00", f"{MONDAY}T09:30:00", timezone=zone)
        problem = assert_problem(tenant.client.post("/v1/bookings", json=body), 422, "unknown_timezone")
        assert error_fields(problem) == ["timezone"]


@pytest.mark.parametrize(
    "times",
    [
        {"start": "9999-12-31T23:30:00Z", "duration_minutes": 60},
        {"start": "9999-12-31T23:00:00Z", "end": "9999-12-31T23:30:00Z"},
    ],
)
def test_far_future_times_are_refused_not_a_server_error(tenant: Tenant, times: dict[str, Any]) -> None:
    every_day = [
        {"weekday": d, "start": "00:00", "end": "24:00"} for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    ]
    host = tenant.create_user(working_hours=every_day)
    response = tenant.client.post("/v1/bookings", json={"host_id": host["id"], **times})
    assert_problem(response, 422, "validation_failed")


def test_unknown_host_is_not_found(tenant: Tenant) -> None:
    body = booking("usr_01jd3w9k6v0m3y0q6d2x9t7h1e", f"{MONDAY}T09:00:00", f"{MONDAY}T09:30:00")
    assert_problem(tenant.client.post("/v1/bookings", json=body), 404, "not_found")


# --- DST --------------------------------------------------------------------------------------


def test_local_time_in_the_spring_gap_does_not_exist(tenant: Tenant) -> None:
    host = tenant.create_user()
    for extra in ({}, {"ignore_availability": True}):
        body = booking(host["id"], "2030-03-31T02:30:00", duration_minutes=30, **extra)
        problem = assert_problem(tenant.client.post("/v1/bookings", json=body), 422, "nonexistent_local_time")
        assert error_fields(problem) == ["start"]
    body = booking(host["id"], "2030-03-31T01:45:00", "2030-03-31T02:15:00", ignore_availability=True)
    problem = assert_problem(tenant.client.post("/v1/bookings", json=body), 422, "nonexistent_local_time")
    assert error_fields(problem) == ["end"]


def test_duration_across_the_spring_gap_is_exact(tenant: Tenant) -> None:
    host = tenant.create_user()
    created = create_booking(
        tenant.client, booking(host["id"], "2030-03-31T01:30:00", duration_minutes=60, ignore_availability=True)
    )
    assert created["start"] == "2030-03-31T00:30:00Z"
    assert created["end"] == "2030-03-31T01:30:00Z"
    assert created["local_start"] == "2030-03-31T01:30:00+01:00"
    assert created["local_end"] == "2030-03-31T03:30:00+02:00"


def test_local_time_in_the_autumn_overlap_is_ambiguous_without_offset(tenant: Tenant) -> None:
    host = tenant.create_user()
    body = booking(host["id"], "2030-10-27T02:30:00", duration_minutes=30, ignore_availability=True)
    problem = assert_problem(tenant.client.post("/v1/bookings", json=body), 422, "ambiguous_local_time")
    assert error_fields(problem) == ["start"]


def test_autumn_overlap_with_offsets_books_both_hours(tenant: Tenant) -> None:
    host = tenant.create_user()
    summer = create_booking(
        tenant.client,
        booking(host["id"], "2030-10-27T02:30:00+02:00", "2030-10-27T02:45:00+02:00", ignore_availability=True),
    )
    winter = create_booking(
        tenant.client,
        booking(host["id"], "2030-10-27T02:30:00+01:00", "2030-10-27T02:45:00+01:00", ignore_availability=True),
    )
    assert summer["start"] == "2030-10-27T00:30:00Z"
    assert summer["local_start"] == "2030-10-27T02:30:00+02:00"
    assert winter["start"] == "2030-10-27T01:30:00Z"
    assert winter["local_start"] == "2030-10-27T02:30:00+01:00"
    assert summer["id"] != winter["id"]


# --- conflicts and availability ---------------------------------------------------------------


def test_overlap_is_a_conflict_listing_the_busy_intervals(tenant: Tenant) -> None:
    host = tenant.create_user()
    first = create_booking(tenant.client, booking(host["id"], f"{MONDAY}T10:00:00", f"{MONDAY}T10:30:00"))
    second = create_booking(tenant.client, booking(host["id"], f"{MONDAY}T11:00:00", f"{MONDAY}T11:30:00"))

    response = tenant.client.post("/v1/bookings", json=booking(host["id"], f"{MONDAY}T10:15:00", f"{MONDAY}T11:15:00"))
    problem = assert_problem(response, 409, "booking_conflict")
    assert problem["conflicts"] == [
        {
            "start": "2030-12-02T09:00:00Z",
            "end": "2030-12-02T09:30:00Z",
            "source": "booking",
            "booking_id": first["id"],
        },
        {
            "start": "2030-12-02T10:00:00Z",
            "end": "2030-12-02T10:30:00Z",
            "source": "booking",
            "booking_id": second["id"],
        },
    ]
    # Touching intervals do not overlap.
    create_booking(tenant.client, booking(host["id"], f"{MONDAY}T10:30:00", f"{MONDAY}T11:00:00"))


def test_buffer_widens_existing_bookings(tenant: Tenant) -> None:
    host = tenant.create_user(buffer_minutes=15)
    first = create_booking(tenant.client, booking(host["id"], f"{MONDAY}T10:00:00", f"{MONDAY}T10:30:00"))
    response = tenant.client.post("/v1/bookings", json=booking(host["id"], f"{MONDAY}T10:40:00", duration_minutes=20))
    problem = assert_problem(response, 409, "booking_conflict")
    assert [c["booking_id"] for c in problem["conflicts"]] == [first["id"]]
    response = tenant.client.post("/v1/bookings", json=booking(host["id"], f"{MONDAY}T09:30:00", f"{MONDAY}T09:50:00"))
    assert_problem(response, 409, "booking_conflict")
    create_booking(tenant.client, booking(host["id"], f"{MONDAY}T10:45:00", duration_minutes=15))
    create_booking(tenant.client, booking(host["id"], f"{MONDAY}T09:15:00", f"{MONDAY}T09:45:00"))


def test_bookings_of_other_hosts_do_not_conflict(tenant: Tenant) -> None:
    ada, bo = tenant.create_user(), tenant.create_user(name="Bo", email="bo@example.com")
    create_booking(tenant.client, booking(ada["id"], f"{MONDAY}T10:00:00", f"{MONDAY}T10:30:00"))
    create_booking(tenant.client, booking(bo["id"], f"{MONDAY}T10:00:00", f"{MONDAY}T10:30:00"))


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (f"{MONDAY}T08:30:00", f"{MONDAY}T09:30:00"),  # starts before the working day
        (f"{MONDAY}T16:45:00", f"{MONDAY}T17:15:00"),  # ends after it
        (f"{SATURDAY}T10:00:00", f"{SATURDAY}T10:30:00"),  # no working hours on Saturday
        (f"{MONDAY}T20:00:00", f"{MONDAY}T20:30:00"),
    ],
)
def test_outside_working_hours(tenant: Tenant, start: str, end: str) -> None:
    host = tenant.create_user()
    assert_problem(
        tenant.client.post("/v1/bookings", json=booking(host["id"], start, end)), 409, "outside_availability"
    )
    # An owner (and a member) may book there anyway; an app key may not.
    create_booking(tenant.client, booking(host["id"], start, end, ignore_availability=True))
    member = tenant.key_client(tenant.create_key("member"))
    tomorrow = start.replace("-02T", "-09T").replace("-07T", "-14T")
    tomorrow_end = end.replace("-02T", "-09T").replace("-07T", "-14T")
    create_booking(member, booking(host["id"], tomorrow, tomorrow_end, ignore_availability=True))


def test_ignore_availability_needs_owner_or_member(tenant: Tenant) -> None:
    host = tenant.create_user()
    app = tenant.key_client(tenant.create_key("app", ["bookings:write", "bookings:read"]))
    for start in (f"{SATURDAY}T10:00:00", f"{MONDAY}T10:00:00"):
        response = app.post(
            "/v1/bookings", json=booking(host["id"], start, duration_minutes=30, ignore_availability=True)
        )
        assert_problem(response, 403, "insufficient_scope")
    # Without the flag the same key books inside working hours.
    create_booking(app, booking(host["id"], f"{MONDAY}T10:00:00", duration_minutes=30))


def test_ignore_availability_still_refuses_conflicts(tenant: Tenant) -> None:
    host = tenant.create_user()
    create_booking(
        tenant.client, booking(host["id"], f"{SATURDAY}T10:00:00", duration_minutes=60, ignore_availability=True)
    )
    response = tenant.client.post(
        "/v1/bookings", json=booking(host["id"], f"{SATURDAY}T10:30:00", duration_minutes=60, ignore_availability=True)
    )
    assert_problem(response, 409, "booking_conflict")


def test_minimum_notice(tenant: Tenant) -> None:
    every_day = [
        {"weekday": d, "start": "00:00", "end": "24:00"} for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    ]
    host = tenant.create_user(timezone="UTC", working_hours=every_day, minimum_notice_minutes=180)
    now = datetime.now(UTC).replace(microsecond=0)
    soon, later = now + timedelta(minutes=60), now + timedelta(minutes=240)

    response = tenant.client.post(
        "/v1/bookings", json={"host_id": host["id"], "start": soon.isoformat(), "duration_minutes": 30}
    )
    problem = assert_problem(response, 409, "outside_availability")
    assert "notice" in problem["detail"]
    create_booking(tenant.client, {"host_id": host["id"], "start": later.isoformat(), "duration_minutes": 30})
    # An owner's ignore_availability lifts the notice too.
    create_booking(
        tenant.client,
        {"host_id": host["id"], "start": soon.isoformat(), "duration_minutes": 30, "ignore_availability": True},
    )


# --- get, list --------------------------------------------------------------------------------


def test_get_unknown_booking_is_not_found(tenant: Tenant) -> None:
    for booking_id in ("bkg_01jd3w9k6v0m3y0q6d2x9t7h1e", "nope", "usr_01jd3w9k6v0m3y0q6d2x9t7h1e"):
        assert_problem(tenant.client.get(f"/v1/bookings/{booking_id}"), 404, "not_found")
        assert_problem(tenant.client.post(f"/v1/bookings/{booking_id}/cancel", json={}), 404, "not_found")


def test_list_filters(tenant: Tenant) -> None:
    ada, bo = tenant.create_user(), tenant.create_user(name="Bo", email="bo@example.com")
    a1 = create_booking(tenant.client, booking(ada["id"], f"{MONDAY}T09:00:00", duration_minutes=30))
    a2 = create_booking(tenant.client, booking(ada["id"], "2030-12-03T09:00:00", duration_minutes=30))
    a3 = create_booking(tenant.client, booking(ada["id"], "2030-12-04T09:00:00", duration_minutes=30))
    b1 = create_booking(tenant.client, booking(bo["id"], "2030-12-03T12:00:00", duration_minutes=30))
    cancelled = tenant.client.post(f"/v1/bookings/{a2['id']}/cancel", json={"reason": "moved"}).json()

    def ids(**params: Any) -> list[str]:
        return [b["id"] for b in list_all(tenant.client, "/v1/bookings", **params)]

    assert ids() == [a1["id"], a2["id"], b1["id"], a3["id"]]
    assert ids(host_id=ada["id"]) == [a1["id"], a2["id"], a3["id"]]
    assert ids(host_id=bo["id"]) == [b1["id"]]
    assert ids(status="cancelled") == [a2["id"]]
    assert ids(status="confirmed") == [a1["id"], b1["id"], a3["id"]]
    assert ids(status="confirmed", host_id=ada["id"]) == [a1["id"], a3["id"]]
    assert ids(start_after="2030-12-02T12:00:00Z") == [a2["id"], b1["id"], a3["id"]]
    assert ids(start_before="2030-12-03T10:00:00+01:00") == [a1["id"], a2["id"]]
    assert ids(start_after="2030-12-02T12:00:00Z", start_before="2030-12-03T23:00:00Z") == [a2["id"], b1["id"]]
    assert ids(host_id="usr_01jd3w9k6v0m3y0q6d2x9t7h1e") == []
    listed = list_all(tenant.client, "/v1/bookings", status="cancelled")
    assert listed == [cancelled]


def test_list_rejects_bad_filters(tenant: Tenant) -> None:
    for params, field in (
        ({"status": "pending"}, "status"),
        ({"start_after": "yesterday"}, "start_after"),
        ({"start_before": "2030-13-01T00:00:00Z"}, "start_before"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
    ):
        problem = assert_problem(tenant.client.get("/v1/bookings", params=params), 422, "validation_failed")
        assert field in error_fields(problem)


def test_list_filter_without_offset_is_not_a_server_error(tenant: Tenant) -> None:
    for name in ("start_after", "start_before"):
        response = tenant.client.get("/v1/bookings", params={name: "2030-12-02T00:00:00"})
        problem = assert_problem(response, 422, "validation_failed")
        assert error_fields(problem) == [name]


# --- cancel -----------------------------------------------------------------------------------


def test_cancel_then_cancel_again_is_unchanged(tenant: Tenant) -> None:
    host = tenant.create_user()
    created = create_booking(tenant.client, booking(host["id"], f"{MONDAY}T13:00:00", duration_minutes=30))

    response = tenant.client.post(f"/v1/bookings/{created['id']}/cancel", json={"reason": "Guest is ill"})
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["id"] == created["id"]
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancellation_reason"] == "Guest is ill"
    assert UTC_Z.match(cancelled["cancelled_at"])
    assert datetime.fromisoformat(cancelled["updated_at"]) >= datetime.fromisoformat(created["updated_at"])
    for field in ("start", "end", "host_id", "timezone", "local_start", "requested", "title", "created_at"):
        assert cancelled[field] == created[field]

    again = tenant.client.post(f"/v1/bookings/{created['id']}/cancel", json={"reason": "another reason"})
    assert again.status_code == 200
    assert again.json() == cancelled
    no_body = tenant.client.post(f"/v1/bookings/{created['id']}/cancel")
    assert no_body.status_code == 200
    assert no_body.json() == cancelled
    assert tenant.client.get(f"/v1/bookings/{created['id']}").json() == cancelled


def test_cancel_without_body_or_reason(tenant: Tenant) -> None:
    host = tenant.create_user()
    created = create_booking(tenant.client, booking(host["id"], f"{MONDAY}T13:00:00", duration_minutes=30))
    response = tenant.client.post(f"/v1/bookings/{created['id']}/cancel")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert response.json()["cancellation_reason"] is None


def test_cancel_frees_the_slot_at_once(tenant: Tenant) -> None:
    host = tenant.create_user()
    body = booking(host["id"], f"{MONDAY}T15:00:00", duration_minutes=30)
    created = create_booking(tenant.client, body)
    assert_problem(tenant.client.post("/v1/bookings", json=body), 409, "booking_conflict")
    assert tenant.client.post(f"/v1/bookings/{created['id']}/cancel", json={}).status_code == 200
    rebooked = create_booking(tenant.client, body)
    assert rebooked["id"] != created["id"]
    # The old booking stays readable and cancelled.
    assert tenant.client.get(f"/v1/bookings/{created['id']}").json()["status"] == "cancelled"


# --- concurrency ------------------------------------------------------------------------------


def test_fifty_concurrent_creates_for_one_slot_book_it_once(tenant: Tenant) -> None:
    host = tenant.create_user()
    body = booking(host["id"], f"{MONDAY}T11:00:00", f"{MONDAY}T11:30:00")
    workers = 50
    barrier = threading.Barrier(workers)

    def attempt(_: int) -> httpx.Response:
        with tenant.key_client(tenant.key) as client:
            barrier.wait(timeout=30)
            return client.post("/v1/bookings", json=body)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        responses = list(pool.map(attempt, range(workers)))

    statuses = sorted(r.status_code for r in responses)
    assert all(s < 500 for s in statuses), [r.text for r in responses if r.status_code >= 500]
    assert statuses.count(201) == 1, statuses
    assert statuses.count(409) == workers - 1, statuses
    winner = next(r.json() for r in responses if r.status_code == 201)
    for response in responses:
        if response.status_code == 409:
            problem = assert_problem(response, 409, "booking_conflict")
            assert [c["booking_id"] for c in problem["conflicts"]] == [winner["id"]]

    with tenant.db.read() as session:
        confirmed = session.scalar(
            select(func.count())
            .select_from(Booking)
            .where(Booking.host_id == host["id"], Booking.status == "confirmed")
        )
    assert confirmed == 1


def test_an_overlap_the_check_missed_meets_the_exclusion_constraint_and_is_a_conflict(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL's no-overlap constraint is the backstop behind the locked check. The booking's
    writes reach the server in one pipeline, so the constraint's refusal comes at the end of it:
    still a 409 with what is in the way, stored under the key, and nothing of the booking kept."""
    if tenant.db.is_sqlite:
        pytest.skip("SQLite has no exclusion constraint: its write lock makes the check the guarantee")
    host = tenant.create_user()
    taken = booking(host["id"], f"{MONDAY}T14:00:00", f"{MONDAY}T15:00:00", title="First")
    first = create_booking(tenant.client, taken)
    monkeypatch.setattr(service, "_choose", lambda session, data, candidates, times, *, team: (candidates, None))
    body = booking(host["id"], f"{MONDAY}T14:30:00", f"{MONDAY}T15:30:00", title="Missed by the check")
    headers = {"Idempotency-Key": f"overlap-{host['id']}"}

    refused = tenant.client.post("/v1/bookings", json=body, headers=headers)
    problem = assert_problem(refused, 409, "booking_conflict")
    assert [c["booking_id"] for c in problem["conflicts"]] == [first["id"]]
    replayed = tenant.client.post("/v1/bookings", json=body, headers=headers)
    assert (replayed.status_code, replayed.headers.get("Idempotent-Replayed")) == (409, "true")
    with tenant.db.read() as session:
        titles = session.scalars(select(Booking.title).where(Booking.host_id == host["id"])).all()
    assert titles == ["First"]
