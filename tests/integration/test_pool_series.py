"""Round-robin recurring bookings over HTTP (``host_pool`` with ``recurrence``): one host of the
pool for the whole series, chosen in the write transaction among the hosts free for every
occurrence (skip mode: for the most) by the least-booked rules; a pool with no such host books
nothing and names the best candidate's failing occurrences; racing series never share a host."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from hub.db.tables import BookingHost, BookingSeries
from tests.integration.helpers import BERLIN, assert_problem, booking, create_booking
from tests.integration.test_series import BERLIN_FIRST, occurrences, series_of, weekly
from tests.integration.test_team_bookings import _race, users
from tests.support.tenants import Tenant

# The series' four Mondays at 10:00 Berlin: 17 and 24 March, 31 March and 7 April 2031.
WEEKS = ["2031-03-17", "2031-03-24", "2031-03-31", "2031-04-07"]
STARTS = ["2031-03-17T09:00:00Z", "2031-03-24T09:00:00Z", "2031-03-31T08:00:00Z", "2031-04-07T08:00:00Z"]


def pool_series(user_ids: list[str], count: int = 4, **recurrence: Any) -> dict[str, Any]:
    body = weekly(user_ids[0], f"{BERLIN_FIRST}T10:00:00", count=count, **recurrence)
    del body["host_id"]
    return {"host_pool": {"user_ids": user_ids, "assignment": "least_booked"}, **body}


def busy(tenant: Tenant, host_id: str, week: int) -> dict[str, Any]:
    """A booking of ``host_id`` overlapping the series' occurrence of ``week`` (1-based)."""
    return create_booking(tenant.client, booking(host_id, f"{WEEKS[week - 1]}T10:30:00", duration_minutes=30))


def confirmed_rows(tenant: Tenant, host_ids: list[str]) -> dict[str, int]:
    with tenant.db.read() as session:
        rows = session.execute(
            select(BookingHost.host_id, func.count())
            .where(BookingHost.host_id.in_(host_ids), BookingHost.status == "confirmed")
            .group_by(BookingHost.host_id)
        )
        return {h: int(n) for h, n in rows}


def test_the_least_booked_host_free_every_week_hosts_the_whole_series(tenant: Tenant) -> None:
    a, b, c = users(tenant, 3)
    busy(tenant, a, 2)  # a has no booking before the series, but is busy in week 2
    for day in ("2031-03-10", "2031-03-11"):  # b: two bookings in the 30 days before, c: one
        create_booking(tenant.client, booking(b, f"{day}T09:00:00", duration_minutes=30))
    create_booking(tenant.client, booking(c, "2031-03-12T09:00:00", duration_minutes=30))

    first = create_booking(tenant.client, pool_series([a, b, c]))
    expected = {"strategy": "least_booked", "pool": [a, b, c], "reason": "fewest bookings in the last 30 days: 1"}
    assert (first["host_id"], first["host_ids"], first["assignment"]) == (c, [c], expected)
    booked = occurrences(tenant.client, first["series_id"])
    assert [(o["start"], o["host_ids"], o["assignment"]) for o in booked] == [(s, [c], expected) for s in STARTS]
    series = series_of(tenant.client, first["series_id"])
    assert (series["host_id"], series["host_ids"], series["assignment"]) == (c, [c], expected)
    assert series["skipped"] == []
    assert confirmed_rows(tenant, [a, b, c]) == {a: 1, b: 2, c: 5}

    # an occurrence that moves keeps its host; into the host's busy time it is refused, not reassigned
    path = f"/v1/bookings/{booked[1]['id']}/reschedule"
    moved = tenant.client.post(path, json={"start": f"{WEEKS[1]}T11:00:00", "duration_minutes": 60, "timezone": BERLIN})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["host_ids"], moved.json()["assignment"]) == ([c], expected)
    busy_c = create_booking(tenant.client, booking(c, f"{WEEKS[2]}T14:00:00", duration_minutes=30))
    refused = tenant.client.post(
        f"/v1/bookings/{booked[2]['id']}/reschedule",
        json={"start": f"{WEEKS[2]}T14:00:00", "duration_minutes": 60, "timezone": BERLIN},
    )
    problem = assert_problem(refused, 409, "booking_conflict")
    assert [(x["host_id"], x.get("booking_id")) for x in problem["conflicts"]] == [(c, busy_c["id"])]
    assert "not reassign" in problem["detail"]
    assert tenant.client.get(f"/v1/bookings/{booked[2]['id']}").json()["host_ids"] == [c]


def test_no_host_free_every_week_books_nothing_and_names_the_best_candidates_occurrences(tenant: Tenant) -> None:
    a, b, c = users(tenant, 3)
    blocker = busy(tenant, a, 2)  # a: free for 3 of 4, the best candidate
    for week in (3, 4):
        busy(tenant, b, week)
    for week in (1, 3):
        busy(tenant, c, week)

    response = tenant.client.post("/v1/bookings", json=pool_series([a, b, c]))
    body = assert_problem(response, 409, "booking_conflict")
    assert body["occurrences"] == [{"start": STARTS[1], "code": "booking_conflict"}]
    assert [(x["host_id"], x.get("booking_id")) for x in body["conflicts"]] == [(a, blocker["id"])]
    assert a in body["detail"]
    assert "No host of the pool is free for every occurrence" in body["detail"]
    assert confirmed_rows(tenant, [a, b, c]) == {a: 1, b: 2, c: 2}  # only the blockers
    with tenant.db.read() as session:
        assert session.scalar(select(func.count()).where(BookingSeries.host_id.in_([a, b, c]))) == 0


def test_a_pool_where_nobody_is_ever_free_names_the_least_booked_hosts_occurrences(tenant: Tenant) -> None:
    a, b = users(tenant, 2)
    for host in (a, b):
        for week in (1, 2, 3, 4):
            busy(tenant, host, week)
    body = assert_problem(
        tenant.client.post("/v1/bookings", json=pool_series([a, b], on_conflict="skip")), 409, "booking_conflict"
    )
    # every host is free for none: the least-booked rules pick the candidate (tied: the smallest id)
    assert body["occurrences"] == [{"start": s, "code": "booking_conflict"} for s in STARTS]
    assert {x["host_id"] for x in body["conflicts"]} == {min(a, b)}


def test_skip_mode_takes_the_host_free_for_the_most_occurrences(tenant: Tenant) -> None:
    a, b, c = users(tenant, 3)
    busy(tenant, a, 2)
    for week in (3, 4):
        busy(tenant, b, week)
    for week in (1, 3):
        busy(tenant, c, week)

    first = create_booking(tenant.client, pool_series([a, b, c], on_conflict="skip"))
    assert first["host_ids"] == [a]
    assert first["assignment"]["reason"] == (
        "free for the most occurrences (3 of 4); fewest bookings in the last 30 days: 0"
    )
    series = series_of(tenant.client, first["series_id"])
    assert (series["host_id"], series["skipped"]) == (a, [{"start": STARTS[1], "code": "booking_conflict"}])
    assert series["assignment"] == first["assignment"]
    assert [(o["occurrence_index"], o["host_ids"]) for o in occurrences(tenant.client, first["series_id"])] == [
        (0, [a]),
        (2, [a]),
        (3, [a]),
    ]
    assert confirmed_rows(tenant, [a, b, c]) == {a: 4, b: 2, c: 2}


def test_twelve_racing_pool_series_into_one_weekly_slot_give_each_of_three_hosts_one(tenant: Tenant) -> None:
    hosts = users(tenant, 3)
    responses = _race(tenant, [pool_series(hosts)] * 12)
    won = [r.json() for r in responses if r.status_code == 201]
    assert len(won) == 3, [(r.status_code, r.text[:200]) for r in responses]
    assert sorted(b["host_id"] for b in won) == sorted(hosts)
    for response in responses:
        if response.status_code != 201:
            assert_problem(response, 409, "booking_conflict")
    for first in won:
        assert [o["host_ids"] for o in occurrences(tenant.client, first["series_id"])] == [[first["host_id"]]] * 4
    assert confirmed_rows(tenant, hosts) == dict.fromkeys(hosts, 4)
    with tenant.db.read() as session:
        assert session.scalar(select(func.count()).where(BookingSeries.host_id.in_(hosts))) == 3
