"""Recurring bookings over HTTP: every occurrence a booking at the same local time across DST
changes, all or nothing under a conflict, skip mode, cancelling all or following occurrences,
one occurrence moved or cancelled through its own routes, validation and tenancy."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from hub.db.tables import Booking, BookingSeries, OutboxMessage
from tests.integration.helpers import BERLIN, assert_problem, booking, create_booking, error_fields
from tests.support.tenants import Tenant

# 2031: Berlin leaves winter time on Sunday 30 March, New York on Sunday 9 March.
BERLIN_FIRST = "2031-03-17"  # a Monday
NEW_YORK = "America/New_York"


def weekly(host_id: str, start: str, count: int = 10, **recurrence: Any) -> dict[str, Any]:
    return booking(
        host_id,
        start,
        duration_minutes=60,
        title="Weekly sync",
        attendees=[{"email": "guest@example.com"}],
        recurrence={"frequency": "weekly", "count": count, **recurrence},
    )


def series_of(client: httpx.Client, series_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/booking-series/{series_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def occurrences(client: httpx.Client, series_id: str) -> list[dict[str, Any]]:
    out = []
    for booking_id in series_of(client, series_id)["booking_ids"]:
        response = client.get(f"/v1/bookings/{booking_id}")
        assert response.status_code == 200, response.text
        out.append(response.json())
    return out


def bookings_of_host(tenant: Tenant, host_id: str) -> int:
    with tenant.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Booking).where(Booking.host_id == host_id)) or 0)


def test_weekly_across_berlins_dst_change_keeps_the_local_time(tenant: Tenant) -> None:
    host = tenant.create_user()
    first = create_booking(tenant.client, weekly(host["id"], f"{BERLIN_FIRST}T10:00:00"))
    assert first["series_id"].startswith("srs_")
    assert first["occurrence_index"] == 0
    assert first["local_start"] == "2031-03-17T10:00:00+01:00"
    series = series_of(tenant.client, first["series_id"])
    assert series["object"] == "booking_series"
    assert (series["host_id"], series["timezone"], series["status"]) == (host["id"], BERLIN, "active")
    assert series["recurrence"] == {
        "frequency": "weekly",
        "interval": 1,
        "count": 10,
        "until": None,
        "weekdays": ["mon"],
        "on_conflict": "fail",
    }
    assert series["skipped"] == []
    booked = occurrences(tenant.client, first["series_id"])
    assert [b["occurrence_index"] for b in booked] == list(range(10))
    assert {b["series_id"] for b in booked} == {first["series_id"]}
    assert {b["local_start"][11:] for b in booked} == {"10:00:00+01:00", "10:00:00+02:00"}
    assert [b["start"] for b in booked[:4]] == [
        "2031-03-17T09:00:00Z",
        "2031-03-24T09:00:00Z",
        "2031-03-31T08:00:00Z",  # summer time: the same 10:00 in Berlin is an hour earlier in UTC
        "2031-04-07T08:00:00Z",
    ]
    assert booked[-1]["local_start"] == "2031-05-19T10:00:00+02:00"
    # a single booking is unchanged: no series
    single = create_booking(tenant.client, booking(host["id"], "2031-03-18T10:00:00", duration_minutes=30))
    assert (single["series_id"], single["occurrence_index"]) == (None, None)


def test_weekly_across_new_yorks_dst_change_on_two_weekdays(tenant: Tenant) -> None:
    host = tenant.create_user(timezone=NEW_YORK)
    body = weekly(host["id"], "2031-03-03T09:30:00", count=6, weekdays=["mon", "thu"])
    body["timezone"] = NEW_YORK
    first = create_booking(tenant.client, body)
    booked = occurrences(tenant.client, first["series_id"])
    assert [b["local_start"] for b in booked] == [
        "2031-03-03T09:30:00-05:00",
        "2031-03-06T09:30:00-05:00",
        "2031-03-10T09:30:00-04:00",
        "2031-03-13T09:30:00-04:00",
        "2031-03-17T09:30:00-04:00",
        "2031-03-20T09:30:00-04:00",
    ]
    assert [b["start"][11:16] for b in booked] == ["14:30", "14:30", "13:30", "13:30", "13:30", "13:30"]


def test_a_conflict_in_occurrence_7_books_nothing_and_names_it(tenant: Tenant) -> None:
    host = tenant.create_user()
    blocker = create_booking(tenant.client, booking(host["id"], "2031-04-28T10:30:00", duration_minutes=30))
    response = tenant.client.post("/v1/bookings", json=weekly(host["id"], f"{BERLIN_FIRST}T10:00:00"))
    body = assert_problem(response, 409, "booking_conflict")
    assert body["occurrences"] == [{"start": "2031-04-28T08:00:00Z", "code": "booking_conflict"}]
    assert body["conflicts"][0]["booking_id"] == blocker["id"]
    assert bookings_of_host(tenant, host["id"]) == 1
    with tenant.db.read() as session:
        assert (
            session.scalar(select(func.count()).select_from(BookingSeries).where(BookingSeries.host_id == host["id"]))
            == 0
        )


def test_every_failing_occurrence_is_listed_with_its_own_code(tenant: Tenant) -> None:
    host = tenant.create_user()
    create_booking(tenant.client, booking(host["id"], "2031-03-24T10:00:00", duration_minutes=60))
    body = weekly(host["id"], f"{BERLIN_FIRST}T10:00:00", count=4)
    body["recurrence"] = {"frequency": "daily", "count": 7}  # Saturday and Sunday are outside the hours
    response = tenant.client.post("/v1/bookings", json={**body, "start": "2031-03-20T10:00:00"})
    problem = assert_problem(response, 409, "outside_availability")
    assert problem["occurrences"] == [
        {"start": "2031-03-22T09:00:00Z", "code": "outside_availability"},
        {"start": "2031-03-23T09:00:00Z", "code": "outside_availability"},
        {"start": "2031-03-24T09:00:00Z", "code": "booking_conflict"},
    ]
    assert bookings_of_host(tenant, host["id"]) == 1


def test_an_occurrence_in_a_dst_gap_fails_like_a_single_booking(tenant: Tenant) -> None:
    host = tenant.create_user(
        working_hours=[{"weekday": d, "start": "00:00", "end": "24:00"} for d in ("sat", "sun", "mon")]
    )
    body = booking(
        host["id"], "2031-03-29T02:30:00", duration_minutes=30, recurrence={"frequency": "daily", "count": 3}
    )
    problem = assert_problem(tenant.client.post("/v1/bookings", json=body), 422, "nonexistent_local_time")
    assert problem["occurrences"] == [{"start": "2031-03-30T01:30:00Z", "code": "nonexistent_local_time"}]
    body["recurrence"]["on_conflict"] = "skip"
    first = create_booking(tenant.client, body)
    series = series_of(tenant.client, first["series_id"])
    assert series["skipped"] == [{"start": "2031-03-30T01:30:00Z", "code": "nonexistent_local_time"}]
    assert [b["local_start"] for b in occurrences(tenant.client, first["series_id"])] == [
        "2031-03-29T02:30:00+01:00",
        "2031-03-31T02:30:00+02:00",
    ]


def test_skip_mode_books_the_others_and_lists_the_skipped(tenant: Tenant) -> None:
    host = tenant.create_user()
    create_booking(tenant.client, booking(host["id"], "2031-04-28T10:30:00", duration_minutes=30))
    first = create_booking(
        tenant.client,
        weekly(host["id"], f"{BERLIN_FIRST}T10:00:00", on_conflict="skip"),
        headers={"Idempotency-Key": "s-1"},
    )
    series = series_of(tenant.client, first["series_id"])
    assert series["skipped"] == [{"start": "2031-04-28T08:00:00Z", "code": "booking_conflict"}]
    booked = occurrences(tenant.client, first["series_id"])
    assert [b["occurrence_index"] for b in booked] == [0, 1, 2, 3, 4, 5, 7, 8, 9]
    replay = tenant.client.post(
        "/v1/bookings",
        json=weekly(host["id"], f"{BERLIN_FIRST}T10:00:00", on_conflict="skip"),
        headers={"Idempotency-Key": "s-1"},
    )
    assert replay.headers.get("idempotent-replayed") == "true"
    assert replay.json() == first
    assert bookings_of_host(tenant, host["id"]) == 10


def test_cancel_following_from_occurrence_4_and_one_occurrence_on_its_own(tenant: Tenant) -> None:
    host = tenant.create_user()
    first = create_booking(tenant.client, weekly(host["id"], f"{BERLIN_FIRST}T10:00:00", count=8))
    ids = series_of(tenant.client, first["series_id"])["booking_ids"]
    moved = tenant.client.post(
        f"/v1/bookings/{ids[2]}/reschedule",
        json={"start": "2031-03-31T14:00:00", "duration_minutes": 60, "timezone": BERLIN},
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["series_id"], moved.json()["occurrence_index"]) == (first["series_id"], 2)
    response = tenant.client.post(
        f"/v1/booking-series/{first['series_id']}/cancel",
        json={"scope": "following", "from_booking_id": ids[4], "reason": "project ends"},
        headers={"Idempotency-Key": "c-1"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "active"
    assert response.json()["booking_ids"] == ids
    statuses = [b["status"] for b in occurrences(tenant.client, first["series_id"])]
    assert statuses == ["confirmed"] * 4 + ["cancelled"] * 4
    assert occurrences(tenant.client, first["series_id"])[5]["cancellation_reason"] == "project ends"
    again = tenant.client.post(
        f"/v1/booking-series/{first['series_id']}/cancel",
        json={"scope": "following", "from_booking_id": ids[4], "reason": "project ends"},
        headers={"Idempotency-Key": "c-1"},
    )
    assert again.headers.get("idempotent-replayed") == "true"
    with tenant.db.read() as session:
        cancelled = session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.event_type == "booking.cancelled", OutboxMessage.aggregate_id.in_(ids))
        )
    assert cancelled == 4
    single = tenant.client.post(f"/v1/bookings/{ids[1]}/cancel", json={})
    assert single.json()["series_id"] == first["series_id"]
    everything = tenant.client.post(f"/v1/booking-series/{first['series_id']}/cancel", json={"scope": "all"})
    assert everything.status_code == 200, everything.text
    assert everything.json()["status"] == "cancelled"
    assert {b["status"] for b in occurrences(tenant.client, first["series_id"])} == {"cancelled"}
    # the time is free again: a single booking takes an old occurrence's slot
    create_booking(tenant.client, booking(host["id"], f"{BERLIN_FIRST}T10:00:00", duration_minutes=60))


@pytest.mark.parametrize(
    ("recurrence", "field"),
    [
        ({"frequency": "weekly"}, "recurrence"),
        ({"frequency": "weekly", "count": 3, "until": "2031-05-01"}, "recurrence"),
        ({"frequency": "weekly", "count": 53}, "recurrence.count"),
        ({"frequency": "weekly", "count": 1}, "recurrence.count"),
        ({"frequency": "daily", "until": "2031-12-31"}, "recurrence.until"),
        ({"frequency": "monthly", "count": 13}, "recurrence.count"),
        ({"frequency": "weekly", "until": "31.05.2031"}, "recurrence.until"),
        ({"frequency": "weekly", "until": "2031-03-01"}, "recurrence.until"),
        ({"frequency": "weekly", "count": 3, "weekdays": ["tue"]}, "recurrence.weekdays"),
        ({"frequency": "daily", "count": 3, "weekdays": ["mon"]}, "recurrence.weekdays"),
        ({"frequency": "weekly", "count": 3, "weekdays": ["monday"]}, "recurrence.weekdays[0]"),
        ({"frequency": "yearly", "count": 3}, "recurrence.frequency"),
        ({"frequency": "weekly", "count": 3, "on_conflict": "ignore"}, "recurrence.on_conflict"),
        ({"frequency": "weekly", "count": 3, "interval": 0}, "recurrence.interval"),
    ],
)
def test_bad_rules_are_422_naming_the_field(tenant: Tenant, recurrence: dict[str, Any], field: str) -> None:
    host = tenant.create_user()
    body = booking(host["id"], f"{BERLIN_FIRST}T10:00:00", duration_minutes=30, recurrence=recurrence)
    problem = assert_problem(tenant.client.post("/v1/bookings", json=body), 422, "validation_failed")
    assert field in error_fields(problem), problem
    assert bookings_of_host(tenant, host["id"]) == 0


def test_cancel_validation(tenant: Tenant) -> None:
    host = tenant.create_user()
    first = create_booking(tenant.client, weekly(host["id"], f"{BERLIN_FIRST}T10:00:00", count=3))
    other = create_booking(tenant.client, booking(host["id"], "2031-03-18T10:00:00", duration_minutes=30))
    path = f"/v1/booking-series/{first['series_id']}/cancel"
    problem = assert_problem(tenant.client.post(path, json={"scope": "following"}), 422, "validation_failed")
    assert error_fields(problem) == ["from_booking_id"]
    problem = assert_problem(
        tenant.client.post(path, json={"scope": "following", "from_booking_id": other["id"]}), 422, "validation_failed"
    )
    assert error_fields(problem) == ["from_booking_id"]
    assert_problem(tenant.client.post(path, json={"scope": "some"}), 422, "validation_failed")


def test_another_organizations_series_is_not_found(tenant: Tenant, other_tenant: Tenant) -> None:
    host = tenant.create_user()
    first = create_booking(tenant.client, weekly(host["id"], f"{BERLIN_FIRST}T10:00:00", count=3))
    series_id = first["series_id"]
    assert_problem(other_tenant.client.get(f"/v1/booking-series/{series_id}"), 404, "not_found")
    cancel = other_tenant.client.post(f"/v1/booking-series/{series_id}/cancel", json={"scope": "all"})
    assert_problem(cancel, 404, "not_found")
    assert_problem(tenant.client.get("/v1/booking-series/srs_nope"), 404, "not_found")
    assert series_of(tenant.client, series_id)["status"] == "active"


def test_reading_needs_bookings_read(tenant: Tenant) -> None:
    host = tenant.create_user()
    first = create_booking(tenant.client, weekly(host["id"], f"{BERLIN_FIRST}T10:00:00", count=2))
    with tenant.key_client(tenant.create_key(scopes=["users:read"])) as client:
        assert_problem(client.get(f"/v1/booking-series/{first['series_id']}"), 403, "insufficient_scope")
    with tenant.key_client(tenant.create_key(scopes=["bookings:read"])) as client:
        assert client.get(f"/v1/booking-series/{first['series_id']}").status_code == 200
        cancel = client.post(f"/v1/booking-series/{first['series_id']}/cancel", json={"scope": "all"})
        assert_problem(cancel, 403, "insufficient_scope")
