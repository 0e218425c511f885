"""Cursor pagination as a client walks it: every item once, in order, with strict inputs."""

from __future__ import annotations

import base64
import json
import random
from typing import Any

import pytest

from tests.integration.helpers import assert_problem, booking, create_booking, error_fields
from tests.support.tenants import Tenant

SLOTS = [f"2030-12-{day:02d}T{hour:02d}:00:00" for day in (2, 3, 4) for hour in (9, 10, 11, 13, 15)]  # 15


def _forge(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.fixture
def many_bookings(tenant: Tenant) -> list[dict[str, Any]]:
    """45 bookings: three hosts booked at the same 15 starts (ties broken by id), created shuffled."""
    hosts = [tenant.create_user(name=f"Host {i}", email=f"h{i}@example.com") for i in range(3)]
    requests = [(host["id"], start) for host in hosts for start in SLOTS]
    random.Random(7).shuffle(requests)
    return [create_booking(tenant.client, booking(host_id, start, duration_minutes=30)) for host_id, start in requests]


def test_walking_the_cursor_returns_every_booking_once_in_order(
    tenant: Tenant, many_bookings: list[dict[str, Any]]
) -> None:
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        response = tenant.client.get("/v1/bookings", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(pages) < 20

    assert [len(p) for p in pages] == [7, 7, 7, 7, 7, 7, 3]
    walked = [b for page in pages for b in page]
    expected = sorted(many_bookings, key=lambda b: (b["start"], b["id"]))
    assert [b["id"] for b in walked] == [b["id"] for b in expected]
    assert walked == expected
    # Ties exist, so the id really broke them.
    assert len({b["start"] for b in walked}) == 15


def test_exact_multiple_of_the_limit_ends_without_an_empty_page(
    tenant: Tenant, many_bookings: list[dict[str, Any]]
) -> None:
    first = tenant.client.get("/v1/bookings", params={"limit": 45}).json()
    assert len(first["data"]) == 45
    assert first["next_cursor"] is None
    three = tenant.client.get("/v1/bookings", params={"limit": 15}).json()
    seen = list(three["data"])
    while three["next_cursor"]:
        three = tenant.client.get("/v1/bookings", params={"limit": 15, "cursor": three["next_cursor"]}).json()
        assert three["data"], "a cursor led to an empty page"
        seen.extend(three["data"])
    assert len(seen) == 45
    default = tenant.client.get("/v1/bookings").json()
    assert len(default["data"]) == 20


def test_cursor_with_filters_and_later_inserts(tenant: Tenant, many_bookings: list[dict[str, Any]]) -> None:
    host_id = many_bookings[0]["host_id"]
    page = tenant.client.get("/v1/bookings", params={"host_id": host_id, "limit": 4}).json()
    assert [b["host_id"] for b in page["data"]] == [host_id] * 4
    # A booking that sorts before the cursor does not appear later; one after it does.
    earlier = create_booking(
        tenant.client, booking(host_id, "2030-12-02T08:00:00", duration_minutes=30, ignore_availability=True)
    )
    later = create_booking(tenant.client, booking(host_id, "2030-12-06T09:00:00", duration_minutes=30))
    rest: list[dict[str, Any]] = []
    cursor = page["next_cursor"]
    while cursor:
        next_page = tenant.client.get("/v1/bookings", params={"host_id": host_id, "limit": 4, "cursor": cursor}).json()
        rest.extend(next_page["data"])
        cursor = next_page["next_cursor"]
    ids = [b["id"] for b in rest]
    assert earlier["id"] not in ids
    assert ids[-1] == later["id"]
    assert len(page["data"]) + len(rest) == 16


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "%%%",
        _forge(["only-one"]),
        _forge(["2030-12-02T08:00:00+00:00", "bkg_x", "extra"]),
        _forge([1, 2]),
        _forge({"start": "x"}),
        _forge(["not a time", "bkg_01jd3w9k6v0m3y0q6d2x9t7h1e"]),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_bad_cursor_is_422_naming_cursor(tenant: Tenant, cursor: str) -> None:
    problem = assert_problem(tenant.client.get("/v1/bookings", params={"cursor": cursor}), 422, "validation_failed")
    assert error_fields(problem) == ["cursor"]


def test_forged_cursor_with_a_naive_time_is_422(tenant: Tenant) -> None:
    cursor = _forge(["2030-12-02T08:00:00", "bkg_01jd3w9k6v0m3y0q6d2x9t7h1e"])
    problem = assert_problem(tenant.client.get("/v1/bookings", params={"cursor": cursor}), 422, "validation_failed")
    assert error_fields(problem) == ["cursor"]


def test_a_cursor_of_another_list_is_refused(tenant: Tenant, many_bookings: list[dict[str, Any]]) -> None:
    for _ in range(2):
        tenant.create_user()
    users_cursor = tenant.client.get("/v1/users", params={"limit": 1}).json()["next_cursor"]
    bookings_cursor = tenant.client.get("/v1/bookings", params={"limit": 1}).json()["next_cursor"]
    assert users_cursor
    assert bookings_cursor
    problem = assert_problem(
        tenant.client.get("/v1/bookings", params={"cursor": users_cursor}), 422, "validation_failed"
    )
    assert error_fields(problem) == ["cursor"]
    for path in ("/v1/users", "/v1/api-keys", "/v1/audit-events"):
        problem = assert_problem(tenant.client.get(path, params={"cursor": bookings_cursor}), 422, "validation_failed")
        assert error_fields(problem) == ["cursor"], path


@pytest.mark.parametrize("path", ["/v1/bookings", "/v1/users", "/v1/api-keys", "/v1/audit-events"])
@pytest.mark.parametrize("limit", ["0", "101", "-5", "7.5", "many", ""])
def test_limit_out_of_range_is_422(tenant: Tenant, path: str, limit: str) -> None:
    problem = assert_problem(tenant.client.get(path, params={"limit": limit}), 422, "validation_failed")
    assert error_fields(problem) == ["limit"]


@pytest.mark.parametrize("limit", [1, 100])
def test_limit_bounds_are_accepted(tenant: Tenant, limit: int) -> None:
    response = tenant.client.get("/v1/bookings", params={"limit": limit})
    assert response.status_code == 200, response.text
