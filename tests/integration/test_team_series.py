"""Collective recurring bookings over HTTP (``host_ids`` with ``recurrence``): every occurrence
booked for every host in one transaction, a conflict of any host refusing the whole series and
naming that host, skip mode, cancelling following occurrences for every host, the series'
invitation naming every host (round-robin series: ``test_pool_series``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from hub.db.tables import Booking, BookingHost, BookingSeries, OutboxMessage
from hub.notifications._series import series_notice
from tests.integration.helpers import assert_problem, booking, create_booking, error_fields
from tests.integration.test_series import BERLIN_FIRST, occurrences, series_of, weekly
from tests.support.tenants import Tenant


def two_hosts(tenant: Tenant) -> tuple[str, str]:
    a = tenant.create_user(name="Ada Host", email="ada@example.com")["id"]
    b = tenant.create_user(name="Bo Host", email="bo@example.com")["id"]
    return a, b


def collective(host_ids: list[str], count: int = 5, **recurrence: Any) -> dict[str, Any]:
    body = weekly(host_ids[0], f"{BERLIN_FIRST}T10:00:00", count=count, **recurrence)
    del body["host_id"]
    return {"host_ids": host_ids, **body}


def host_rows(tenant: Tenant, series_id: str) -> list[tuple[int, str, str]]:
    """(occurrence index, host id, booking_hosts status) of every occurrence and host."""
    with tenant.db.read() as session:
        rows = session.execute(
            select(Booking.occurrence_index, BookingHost.host_id, BookingHost.status)
            .join(Booking, Booking.id == BookingHost.booking_id)
            .where(Booking.series_id == series_id)
            .order_by(Booking.occurrence_index, BookingHost.position)
        )
        return [(int(i or 0), h, s) for i, h, s in rows]


def count_host_rows(tenant: Tenant, host_id: str) -> int:
    with tenant.db.read() as session:
        return int(
            session.scalar(select(func.count()).select_from(BookingHost).where(BookingHost.host_id == host_id)) or 0
        )


def test_a_five_week_collective_series_books_both_hosts(tenant: Tenant) -> None:
    a, b = two_hosts(tenant)
    first = create_booking(tenant.client, collective([a, b]))
    assert (first["host_id"], first["host_ids"], first["occurrence_index"]) == (a, [a, b], 0)
    series = series_of(tenant.client, first["series_id"])
    assert (series["host_id"], series["host_ids"]) == (a, [a, b])
    booked = occurrences(tenant.client, first["series_id"])
    assert [o["host_ids"] for o in booked] == [[a, b]] * 5
    assert [o["start"] for o in booked] == [
        "2031-03-17T09:00:00Z",
        "2031-03-24T09:00:00Z",
        "2031-03-31T08:00:00Z",
        "2031-04-07T08:00:00Z",
        "2031-04-14T08:00:00Z",
    ]
    assert host_rows(tenant, first["series_id"]) == [(i, h, "confirmed") for i in range(5) for h in (a, b)]
    # each host's time is taken in every occurrence: a single booking of the second host conflicts
    response = tenant.client.post("/v1/bookings", json=booking(b, "2031-04-07T10:15:00", duration_minutes=15))
    assert_problem(response, 409, "booking_conflict")
    # the series' invitation names both hosts
    with tenant.db.read() as session:
        message = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.event_type == "booking_series.created",
                OutboxMessage.aggregate_id == first["series_id"],
            )
        ).one()
        assert message.payload["host_ids"] == [a, b]
        notice = series_notice(session, message)
    assert notice is not None
    assert notice.host.email == "ada@example.com"
    assert [h.email for h in notice.co_hosts] == ["bo@example.com"]
    assert notice.series is not None
    assert notice.series.rule is not None
    assert notice.series.rule.count == 5


def test_the_second_hosts_conflict_in_occurrence_3_books_nothing_and_names_the_host(tenant: Tenant) -> None:
    a, b = two_hosts(tenant)
    blocker = create_booking(tenant.client, booking(b, "2031-03-31T10:30:00", duration_minutes=30))
    response = tenant.client.post("/v1/bookings", json=collective([a, b]))
    body = assert_problem(response, 409, "booking_conflict")
    assert body["occurrences"] == [{"start": "2031-03-31T08:00:00Z", "code": "booking_conflict"}]
    assert [(c["host_id"], c.get("booking_id")) for c in body["conflicts"]] == [(b, blocker["id"])]
    assert b in body["detail"]
    assert (count_host_rows(tenant, a), count_host_rows(tenant, b)) == (0, 1)
    with tenant.db.read() as session:
        assert session.scalar(select(func.count()).select_from(BookingSeries).where(BookingSeries.host_id == a)) == 0


def test_the_second_hosts_working_hours_refuse_the_series(tenant: Tenant) -> None:
    a = tenant.create_user()["id"]
    tuesdays = [{"weekday": "tue", "start": "09:00", "end": "17:00"}]
    b = tenant.create_user(email="bo@example.com", working_hours=tuesdays)["id"]
    response = tenant.client.post("/v1/bookings", json=collective([a, b], count=2))
    body = assert_problem(response, 409, "outside_availability")
    assert [o["code"] for o in body["occurrences"]] == ["outside_availability"] * 2
    assert count_host_rows(tenant, a) == 0


def test_skip_mode_skips_an_occurrence_where_one_host_is_busy(tenant: Tenant) -> None:
    a, b = two_hosts(tenant)
    create_booking(tenant.client, booking(b, "2031-03-31T10:30:00", duration_minutes=30))
    first = create_booking(tenant.client, collective([a, b], on_conflict="skip"))
    series = series_of(tenant.client, first["series_id"])
    assert series["skipped"] == [{"start": "2031-03-31T08:00:00Z", "code": "booking_conflict"}]
    assert series["host_ids"] == [a, b]
    assert [o["occurrence_index"] for o in occurrences(tenant.client, first["series_id"])] == [0, 1, 3, 4]
    assert [i for i, _, _ in host_rows(tenant, first["series_id"])] == [0, 0, 1, 1, 3, 3, 4, 4]
    # the first host is free in the skipped week: nothing of the series was booked for it there
    create_booking(tenant.client, booking(a, "2031-03-31T10:00:00", duration_minutes=60))


def test_cancel_following_cancels_every_hosts_rows(tenant: Tenant) -> None:
    a, b = two_hosts(tenant)
    first = create_booking(tenant.client, collective([a, b]))
    ids = series_of(tenant.client, first["series_id"])["booking_ids"]
    response = tenant.client.post(
        f"/v1/booking-series/{first['series_id']}/cancel", json={"scope": "following", "from_booking_id": ids[2]}
    )
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["host_ids"]) == ("active", [a, b])
    expected = ["confirmed"] * 2 + ["cancelled"] * 3
    assert host_rows(tenant, first["series_id"]) == [(i, h, expected[i]) for i in range(5) for h in (a, b)]
    # both hosts' time is free again in the cancelled weeks
    for host in (a, b):
        create_booking(tenant.client, booking(host, "2031-04-14T10:00:00", duration_minutes=60))


def test_a_collective_series_names_each_host_once(tenant: Tenant) -> None:
    a, _ = two_hosts(tenant)
    response = tenant.client.post("/v1/bookings", json=collective([a, a]))
    body = assert_problem(response, 422, "validation_failed")
    assert "host_ids" in error_fields(body)
