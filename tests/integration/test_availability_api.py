"""``GET /v1/availability`` over HTTP: exact slots, DST, bookings, buffer, notice, limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.helpers import MONDAY, assert_problem, booking, create_booking, error_fields
from tests.support.tenants import Tenant

EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def slots(
    tenant: Tenant, user_id: str, start: str, end: str, duration: int = 30, **params: Any
) -> list[dict[str, str]]:
    response = tenant.client.get(
        "/v1/availability",
        params={"user_id": user_id, "start": start, "end": end, "duration_minutes": duration, **params},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "availability"
    assert body["user_id"] == user_id
    assert body["duration_minutes"] == duration
    return list(body["slots"])


def starts(items: list[dict[str, str]]) -> list[str]:
    return [slot["start"] for slot in items]


def test_slots_are_exact(tenant: Tenant) -> None:
    user = tenant.create_user(working_hours=[{"weekday": "mon", "start": "09:00", "end": "11:00"}])
    response = tenant.client.get(
        "/v1/availability",
        params={
            "user_id": user["id"],
            "start": "2030-12-02T00:00:00Z",
            "end": "2030-12-03T00:00:00Z",
            "duration_minutes": 30,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["timezone"] == "Europe/Berlin"
    assert body["slots"] == [
        {
            "start": "2030-12-02T08:00:00Z",
            "end": "2030-12-02T08:30:00Z",
            "local_start": "2030-12-02T09:00:00+01:00",
            "local_end": "2030-12-02T09:30:00+01:00",
            "user_ids": [user["id"]],
        },
        {
            "start": "2030-12-02T08:30:00Z",
            "end": "2030-12-02T09:00:00Z",
            "local_start": "2030-12-02T09:30:00+01:00",
            "local_end": "2030-12-02T10:00:00+01:00",
            "user_ids": [user["id"]],
        },
        {
            "start": "2030-12-02T09:00:00Z",
            "end": "2030-12-02T09:30:00Z",
            "local_start": "2030-12-02T10:00:00+01:00",
            "local_end": "2030-12-02T10:30:00+01:00",
            "user_ids": [user["id"]],
        },
        {
            "start": "2030-12-02T09:30:00Z",
            "end": "2030-12-02T10:00:00Z",
            "local_start": "2030-12-02T10:30:00+01:00",
            "local_end": "2030-12-02T11:00:00+01:00",
            "user_ids": [user["id"]],
        },
    ]
    # A window in local time without an offset is read in the user's zone: 09:30 to 10:30 Berlin.
    local = slots(tenant, user["id"], "2030-12-02T09:30:00", "2030-12-02T10:30:00")
    assert starts(local) == ["2030-12-02T08:30:00Z", "2030-12-02T09:00:00Z"]


def test_interval_timezone_and_a_whole_week(tenant: Tenant) -> None:
    user = tenant.create_user(
        working_hours=[
            {"weekday": "mon", "start": "09:00", "end": "10:00"},
            {"weekday": "wed", "start": "13:30", "end": "14:30"},
        ],
    )
    items = slots(
        tenant,
        user["id"],
        "2030-12-02T00:00:00",
        "2030-12-09T00:00:00",
        45,
        interval_minutes=15,
        timezone="America/New_York",
    )
    assert starts(items) == [
        "2030-12-02T08:00:00Z",
        "2030-12-02T08:15:00Z",
        "2030-12-04T12:30:00Z",
        "2030-12-04T12:45:00Z",
    ]
    # The window was read in New York time (05:00Z on Dec 2 .. 05:00Z on Dec 9), renderings too.
    assert items[0]["local_start"] == "2030-12-02T03:00:00-05:00"
    assert items[-1]["local_end"] == "2030-12-04T08:30:00-05:00"


def test_working_hours_follow_daylight_saving_time(tenant: Tenant) -> None:
    user = tenant.create_user(working_hours=[{"weekday": "mon", "start": "09:00", "end": "09:30"}])
    # Berlin moves to summer time on Sunday 2030-03-31: 09:00 is 08:00Z before and 07:00Z after.
    items = slots(tenant, user["id"], "2030-03-24T00:00:00Z", "2030-04-02T00:00:00Z")
    assert items == [
        {
            "start": "2030-03-25T08:00:00Z",
            "end": "2030-03-25T08:30:00Z",
            "local_start": "2030-03-25T09:00:00+01:00",
            "local_end": "2030-03-25T09:30:00+01:00",
            "user_ids": [user["id"]],
        },
        {
            "start": "2030-04-01T07:00:00Z",
            "end": "2030-04-01T07:30:00Z",
            "local_start": "2030-04-01T09:00:00+02:00",
            "local_end": "2030-04-01T09:30:00+02:00",
            "user_ids": [user["id"]],
        },
    ]


def test_bookings_block_slots_and_cancelling_frees_them(tenant: Tenant) -> None:
    user = tenant.create_user(working_hours=[{"weekday": "mon", "start": "09:00", "end": "11:00"}])
    window = ("2030-12-02T00:00:00Z", "2030-12-03T00:00:00Z")
    created = create_booking(tenant.client, booking(user["id"], f"{MONDAY}T09:30:00", duration_minutes=30))
    assert starts(slots(tenant, user["id"], *window)) == [
        "2030-12-02T08:00:00Z",
        "2030-12-02T09:00:00Z",
        "2030-12-02T09:30:00Z",
    ]
    assert tenant.client.post(f"/v1/bookings/{created['id']}/cancel", json={}).status_code == 200
    assert starts(slots(tenant, user["id"], *window)) == [
        "2030-12-02T08:00:00Z",
        "2030-12-02T08:30:00Z",
        "2030-12-02T09:00:00Z",
        "2030-12-02T09:30:00Z",
    ]


def test_buffer_keeps_free_time_around_bookings(tenant: Tenant) -> None:
    user = tenant.create_user(working_hours=[{"weekday": "mon", "start": "09:00", "end": "13:00"}], buffer_minutes=15)
    # Busy 10:00-10:30 local, widened to 09:45-10:45: the 09:30, 10:00 and 10:30 slots are gone.
    create_booking(tenant.client, booking(user["id"], f"{MONDAY}T10:00:00", duration_minutes=30))
    items = slots(tenant, user["id"], "2030-12-02T00:00:00Z", "2030-12-03T00:00:00Z")
    assert [s["local_start"][11:16] for s in items] == ["09:00", "11:00", "11:30", "12:00", "12:30"]
    # With a 15-minute step the first slot after the booking starts when the buffer ends.
    items = slots(tenant, user["id"], "2030-12-02T00:00:00Z", "2030-12-03T00:00:00Z", interval_minutes=15)
    assert [s["local_start"][11:16] for s in items][:4] == ["09:00", "09:15", "10:45", "11:00"]


def test_minimum_notice_hides_slots_that_start_too_soon(tenant: Tenant) -> None:
    user = tenant.create_user(
        timezone="UTC",
        working_hours=[{"weekday": d, "start": "00:00", "end": "24:00"} for d in EVERY_DAY],
        minimum_notice_minutes=120,
    )
    before = datetime.now(UTC)
    window_start = before.replace(minute=0, second=0, microsecond=0)
    items = slots(tenant, user["id"], window_start.isoformat(), (window_start + timedelta(hours=6)).isoformat())
    after = datetime.now(UTC)
    first = datetime.fromisoformat(items[0]["start"])
    # The first slot is the first half-hour mark at or after now + 2 hours.
    assert before + timedelta(minutes=120) <= first + timedelta(seconds=1)
    assert first < after + timedelta(minutes=150)
    assert first.minute in (0, 30)
    assert first.second == 0


def test_user_without_working_hours_is_never_available(tenant: Tenant) -> None:
    user = tenant.create_user(working_hours=[])
    assert slots(tenant, user["id"], "2030-12-02T00:00:00Z", "2030-12-09T00:00:00Z") == []


def test_window_limits_and_bad_parameters(tenant: Tenant) -> None:
    user = tenant.create_user()
    base = {"user_id": user["id"], "start": "2030-12-01T00:00:00Z", "duration_minutes": 30}

    # Exactly 62 days is allowed; more is not.
    ok = tenant.client.get("/v1/availability", params={**base, "end": "2031-02-01T00:00:00Z"})
    assert ok.status_code == 200, ok.text
    problem = assert_problem(
        tenant.client.get("/v1/availability", params={**base, "end": "2031-02-01T00:00:01Z"}), 422, "validation_failed"
    )
    assert error_fields(problem) == ["end"]

    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"end": "2030-11-30T00:00:00Z"}, "validation_failed", "end"),
        ({"end": "2030-12-01T00:00:00Z"}, "validation_failed", "end"),
        ({"end": "tomorrow"}, "validation_failed", "end"),
        ({"end": "2030-12-02T00:00:00Z", "duration_minutes": 0}, "validation_failed", "duration_minutes"),
        ({"end": "2030-12-02T00:00:00Z", "duration_minutes": 1441}, "validation_failed", "duration_minutes"),
        ({"end": "2030-12-02T00:00:00Z", "interval_minutes": 1}, "validation_failed", "interval_minutes"),
        ({"end": "2030-12-02T00:00:00Z", "interval_minutes": 0}, "validation_failed", "interval_minutes"),
        ({"end": "2030-12-02T00:00:00Z", "interval_minutes": -5}, "validation_failed", "interval_minutes"),
        ({"end": "2030-12-02T00:00:00Z", "interval_minutes": 1441}, "validation_failed", "interval_minutes"),
        ({"end": "2030-12-02T00:00:00Z", "timezone": "Moon/Base"}, "unknown_timezone", "timezone"),
        (
            {"start": "2030-03-31T02:30:00", "end": "2030-04-01T00:00:00", "timezone": "Europe/Berlin"},
            "nonexistent_local_time",
            "start",
        ),
    ]
    for changes, code, field in cases:
        problem = assert_problem(tenant.client.get("/v1/availability", params={**base, **changes}), 422, code)
        assert error_fields(problem) == [field], changes

    far = {**base, "start": "9999-12-01T00:00:00Z", "end": "9999-12-31T23:59:59Z"}
    problem = assert_problem(tenant.client.get("/v1/availability", params=far), 422, "validation_failed")
    assert error_fields(problem) == ["start"]  # years outside 1970-2199 are refused

    missing = {k: v for k, v in base.items() if k != "user_id"}
    problem = assert_problem(
        tenant.client.get("/v1/availability", params={**missing, "end": "2030-12-02T00:00:00Z"}),
        422,
        "validation_failed",
    )
    assert error_fields(problem) == ["user_id"]


def test_unknown_user_is_not_found(tenant: Tenant) -> None:
    for user_id in ("usr_01jd3w9k6v0m3y0q6d2x9t7h1e", "someone"):
        response = tenant.client.get(
            "/v1/availability",
            params={
                "user_id": user_id,
                "start": "2030-12-02T00:00:00Z",
                "end": "2030-12-03T00:00:00Z",
                "duration_minutes": 30,
            },
        )
        assert_problem(response, 404, "not_found")
