"""``/v1/users`` over HTTP: create, get, patch, list, and the validation of profiles."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest

from tests.integration.helpers import assert_problem, error_fields, list_all
from tests.support.tenants import Tenant

UTC_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")

PROFILE: dict[str, Any] = {
    "name": "Ada Host",
    "email": "ada@example.com",
    "timezone": "Europe/Berlin",
    "working_hours": [
        {"weekday": "mon", "start": "09:00", "end": "12:00"},
        {"weekday": "mon", "start": "13:00", "end": "17:00"},
        {"weekday": "sat", "start": "20:00", "end": "24:00"},
    ],
    "buffer_minutes": 10,
    "minimum_notice_minutes": 60,
}


def test_create_returns_the_profile_and_get_reads_it_back(tenant: Tenant) -> None:
    response = tenant.client.post("/v1/users", json=PROFILE)
    assert response.status_code == 201, response.text
    user = response.json()
    assert re.fullmatch(r"usr_[0-9a-z]{26}", user["id"])
    assert user["object"] == "user"
    for field, value in PROFILE.items():
        assert user[field] == value, field
    assert UTC_Z.match(user["created_at"])
    assert UTC_Z.match(user["updated_at"])

    fetched = tenant.client.get(f"/v1/users/{user['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == user


def test_defaults_and_unknown_fields(tenant: Tenant) -> None:
    response = tenant.client.post(
        "/v1/users",
        json={"name": "Bo", "email": "bo@example.com", "timezone": "America/New_York", "shoe_size": 44},
    )
    assert response.status_code == 201, response.text
    user = response.json()
    assert user["working_hours"] == []
    assert user["buffer_minutes"] == 0
    assert user["minimum_notice_minutes"] == 0
    assert "shoe_size" not in user


def test_unknown_timezone_is_refused(tenant: Tenant) -> None:
    for zone in ("Mars/Olympus_Mons", "europe/berlin", "../../etc/passwd", "localtime"):
        body = assert_problem(
            tenant.client.post("/v1/users", json={**PROFILE, "timezone": zone}), 422, "unknown_timezone"
        )
        assert error_fields(body) == ["timezone"]


@pytest.mark.parametrize(
    ("hours", "field"),
    [
        ([{"weekday": "mon", "start": "17:00", "end": "09:00"}], "working_hours[0].end"),
        ([{"weekday": "mon", "start": "09:00", "end": "09:00"}], "working_hours[0].end"),
        (
            [
                {"weekday": "tue", "start": "09:00", "end": "10:00"},
                {"weekday": "mon", "start": "25:00", "end": "26:00"},
            ],
            "working_hours[1].start",
        ),
        ([{"weekday": "mon", "start": "24:00", "end": "24:00"}], "working_hours[0].start"),
        ([{"weekday": "mon", "start": "09:00", "end": "17:60"}], "working_hours[0].end"),
        ([{"weekday": "funday", "start": "09:00", "end": "17:00"}], "working_hours[0].weekday"),
        ([{"weekday": "mon", "start": "9:00", "end": "17:00"}], "working_hours[0].start"),
        ([{"weekday": "mon", "start": "09:00"}], "working_hours[0]"),
    ],
)
def test_bad_working_hours_name_the_field(tenant: Tenant, hours: list[dict[str, str]], field: str) -> None:
    body = assert_problem(
        tenant.client.post("/v1/users", json={**PROFILE, "working_hours": hours}), 422, "validation_failed"
    )
    fields = error_fields(body)
    assert any(f == field or f.startswith(field) for f in fields), fields


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"name": ""}, "name"),
        ({"buffer_minutes": -1}, "buffer_minutes"),
        ({"buffer_minutes": "ten"}, "buffer_minutes"),
        ({"minimum_notice_minutes": 1.5}, "minimum_notice_minutes"),
        ({"working_hours": "mon 9-5"}, "working_hours"),
    ],
)
def test_wrong_values_and_types_name_the_field(tenant: Tenant, override: dict[str, Any], field: str) -> None:
    body = assert_problem(tenant.client.post("/v1/users", json={**PROFILE, **override}), 422, "validation_failed")
    assert field in error_fields(body)


def test_missing_required_field(tenant: Tenant) -> None:
    profile = {k: v for k, v in PROFILE.items() if k != "email"}
    body = assert_problem(tenant.client.post("/v1/users", json=profile), 422, "validation_failed")
    assert "email" in error_fields(body)


def test_patch_is_partial_and_validated(tenant: Tenant) -> None:
    user = tenant.create_user(**PROFILE)

    response = tenant.client.patch(f"/v1/users/{user['id']}", json={"name": "Ada Lovelace", "buffer_minutes": 0})
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["name"] == "Ada Lovelace"
    assert patched["buffer_minutes"] == 0
    for field in ("email", "timezone", "working_hours", "minimum_notice_minutes", "created_at", "id"):
        assert patched[field] == user[field], field
    assert datetime.fromisoformat(patched["updated_at"]) > datetime.fromisoformat(user["updated_at"])
    assert tenant.client.get(f"/v1/users/{user['id']}").json() == patched

    response = tenant.client.patch(
        f"/v1/users/{user['id']}",
        json={"timezone": "Asia/Tokyo", "working_hours": [{"weekday": "sun", "start": "00:00", "end": "24:00"}]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["timezone"] == "Asia/Tokyo"
    assert response.json()["working_hours"] == [{"weekday": "sun", "start": "00:00", "end": "24:00"}]

    body = assert_problem(
        tenant.client.patch(f"/v1/users/{user['id']}", json={"timezone": "Nowhere/Special"}), 422, "unknown_timezone"
    )
    assert error_fields(body) == ["timezone"]
    body = assert_problem(
        tenant.client.patch(
            f"/v1/users/{user['id']}", json={"working_hours": [{"weekday": "fri", "start": "18:00", "end": "08:00"}]}
        ),
        422,
        "validation_failed",
    )
    assert error_fields(body) == ["working_hours[0].end"]
    body = assert_problem(
        tenant.client.patch(f"/v1/users/{user['id']}", json={"email": "nope"}), 422, "validation_failed"
    )
    assert "email" in error_fields(body)

    # Refused patches changed nothing.
    after = tenant.client.get(f"/v1/users/{user['id']}").json()
    assert after["timezone"] == "Asia/Tokyo"
    assert after["email"] == user["email"]
    assert after["working_hours"] == [{"weekday": "sun", "start": "00:00", "end": "24:00"}]


def test_unknown_user_is_not_found(tenant: Tenant) -> None:
    missing = "usr_01jd3w9k6v0m3y0q6d2x9t7h1e"
    assert_problem(tenant.client.get(f"/v1/users/{missing}"), 404, "not_found")
    assert_problem(tenant.client.patch(f"/v1/users/{missing}", json={"name": "X"}), 404, "not_found")
    assert_problem(tenant.client.get("/v1/users/not-an-id"), 404, "not_found")
    assert_problem(tenant.client.get("/v1/users/bkg_01jd3w9k6v0m3y0q6d2x9t7h1e"), 404, "not_found")


def test_list_pages_through_every_user_of_the_organization(tenant: Tenant) -> None:
    created = [tenant.create_user(name=f"Host {i}", email=f"host{i}@example.com") for i in range(5)]

    first = tenant.client.get("/v1/users", params={"limit": 2})
    assert first.status_code == 200
    page = first.json()
    assert page["object"] == "list"
    assert len(page["data"]) == 2
    assert isinstance(page["next_cursor"], str)

    listed = list_all(tenant.client, "/v1/users", limit=2)
    assert [u["id"] for u in listed] == [u["id"] for u in created]
    assert listed == [tenant.client.get(f"/v1/users/{u['id']}").json() for u in created]

    default = tenant.client.get("/v1/users").json()
    assert len(default["data"]) == 5
    assert default["next_cursor"] is None


def test_list_rejects_bad_limit_and_cursor(tenant: Tenant) -> None:
    for limit in (0, 101, -1, "ten"):
        body = assert_problem(tenant.client.get("/v1/users", params={"limit": limit}), 422, "validation_failed")
        assert "limit" in error_fields(body)
    body = assert_problem(
        tenant.client.get("/v1/users", params={"cursor": "%%%not-a-cursor"}), 422, "validation_failed"
    )
    assert error_fields(body) == ["cursor"]
