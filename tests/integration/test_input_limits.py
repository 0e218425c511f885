"""Inputs a careless or hostile client sends, and the clear 4xx problem each one gets from the
real server instead of a 500: bodies nested too deep, times at datetime's limits (as parameters
and inside forged cursors), NUL characters and line breaks in text fields."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.integration.helpers import MONDAY, assert_problem, booking, error_fields
from tests.support.tenants import Tenant

DEEP_ARRAY = "[" * 1000 + "]" * 1000
DEEP_OBJECT = '{"a":' * 1000 + "1" + "}" * 1000


def post_raw(tenant: Tenant, path: str, content: str, method: str = "POST", **headers: str) -> Any:
    return tenant.client.request(method, path, content=content, headers={"Content-Type": "application/json", **headers})


def forged_cursor(*values: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


# --- nesting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/users"),
        ("POST", "/v1/bookings"),
        ("POST", "/v1/api-keys"),
        ("POST", "/v1/webhook-endpoints"),
        ("POST", "/v1/bookings/bkg_01m86kmfsa4gapcqvjvg7ztzcr/cancel"),
    ],
)
@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
def test_a_body_nested_1000_levels_deep_is_malformed_json(tenant: Tenant, method: str, path: str, body: str) -> None:
    problem = assert_problem(post_raw(tenant, path, body, method), 400, "malformed_json")
    assert "nested deeper than 32 levels" in problem["detail"]


def test_the_nesting_limit_holds_for_updates_and_for_clients_pinned_to_an_old_revision(tenant: Tenant) -> None:
    user = tenant.create_user()
    assert_problem(post_raw(tenant, f"/v1/users/{user['id']}", DEEP_OBJECT, "PATCH"), 400, "malformed_json")
    old = post_raw(tenant, "/v1/bookings", DEEP_ARRAY, **{"Hub-Version": "2026-06-01"})
    assert_problem(old, 400, "malformed_json")


def test_nesting_up_to_the_limit_is_accepted(tenant: Tenant) -> None:
    host = tenant.create_user()
    nested: Any = "leaf"
    for _ in range(31):  # with the body object itself: 32 levels
        nested = {"n": nested}
    body = booking(host["id"], f"{MONDAY}T09:00:00", duration_minutes=30, metadata=nested)
    created = tenant.client.post("/v1/bookings", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["metadata"] == nested

    body["metadata"] = {"n": nested}  # one more level
    assert_problem(tenant.client.post("/v1/bookings", json=body), 400, "malformed_json")


# --- the supported time range ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["start_after", "start_before"])
@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2300-01-01T00:00:00Z"])
def test_a_list_filter_outside_the_supported_years_is_422(tenant: Tenant, name: str, value: str) -> None:
    problem = assert_problem(tenant.client.get("/v1/bookings", params={name: value}), 422, "validation_failed")
    assert error_fields(problem) == [name]
    assert "1970 and 2199" in problem["detail"]


def test_list_filters_inside_the_range_still_work(tenant: Tenant) -> None:
    host = tenant.create_user()
    tenant.client.post("/v1/bookings", json=booking(host["id"], f"{MONDAY}T09:00:00", duration_minutes=30))
    params = {"host_id": host["id"], "start_after": "2199-12-31T10:00:00+14:00", "start_before": "2199-12-31T23:00:00Z"}
    assert tenant.client.get("/v1/bookings", params=params).json()["data"] == []
    params["start_after"] = "1970-01-01T00:00:00Z"
    assert len(tenant.client.get("/v1/bookings", params=params).json()["data"]) == 1


@pytest.mark.parametrize(
    "values",
    [
        ("9999-12-31T23:59:59-14:00", "bkg_01m86kmfsa4gapcqvjvg7ztzcr"),
        ("0001-01-01T00:00:00+14:00", "bkg_01m86kmfsa4gapcqvjvg7ztzcr"),
        ("2030-12-02T08:00:00+00:00", "bkg_\u0000"),
    ],
    ids=["after-max", "before-min", "nul-id"],
)
def test_a_forged_cursor_outside_the_range_is_422_naming_cursor(tenant: Tenant, values: tuple[str, str]) -> None:
    response = tenant.client.get("/v1/bookings", params={"cursor": forged_cursor(*values)})
    problem = assert_problem(response, 422, "validation_failed")
    assert error_fields(problem) == ["cursor"]


def test_a_cursor_nested_too_deep_for_the_decoder_is_422(tenant: Tenant) -> None:
    cursor = base64.urlsafe_b64encode(DEEP_ARRAY.encode() * 20).decode()
    problem = assert_problem(tenant.client.get("/v1/users", params={"cursor": cursor}), 422, "validation_failed")
    assert error_fields(problem) == ["cursor"]


# --- text fields -------------------------------------------------------------------------------

ONE_LINE = "must be one line"
NO_NUL = "must not contain NUL"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": "Ada\r\nBcc: eve@example.com"}, "name", ONE_LINE),
        ({"name": "Ada\n"}, "name", ONE_LINE),
        ({"name": "Ada\x00"}, "name", ONE_LINE),
        ({"email": "ada@example.com\n"}, "email", "must be an email address"),
        ({"email": "ada\x00@example.com"}, "email", "must be an email address"),
        ({"timezone": "Europe/Berlin\x00"}, "timezone", NO_NUL),
    ],
)
def test_user_text_fields_refuse_nul_and_line_breaks(
    tenant: Tenant, overrides: dict[str, str], field: str, message: str
) -> None:
    body = {"name": "Ada", "email": "ada@example.com", "timezone": "Europe/Berlin", **overrides}
    problem = assert_problem(tenant.client.post("/v1/users", json=body), 422, "validation_failed")
    assert problem["errors"][0]["field"] == field
    assert message in problem["errors"][0]["message"]
    user = tenant.create_user()
    patched = tenant.client.patch(f"/v1/users/{user['id']}", json=overrides)
    assert assert_problem(patched, 422, "validation_failed")["errors"][0]["field"] == field


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        (
            {"attendees": [{"email": "guest@example.com", "name": "Eve\r\nBcc: x@example.com"}]},
            "attendees[0].name",
            ONE_LINE,
        ),
        ({"attendees": [{"email": "guest@example.com\r\n"}]}, "attendees[0].email", "must be an email address"),
        ({"title": "Intro\ncall"}, "title", ONE_LINE),
        ({"title": "Intro\x00"}, "title", ONE_LINE),
        ({"timezone": "Europe/Berlin\x00"}, "timezone", NO_NUL),
        ({"client_timestamp": "2030-12-01T10:00:00\x00"}, "client_timestamp", NO_NUL),
        ({"metadata": {"crm": [{"id": "4\x002"}]}}, "metadata.crm[0].id", NO_NUL),
        ({"metadata": {"crm\x00": 1}}, "metadata", NO_NUL),
    ],
)
def test_booking_text_fields_refuse_nul_and_line_breaks(
    tenant: Tenant, extra: dict[str, Any], field: str, message: str
) -> None:
    host = tenant.create_user()
    body = booking(host["id"], f"{MONDAY}T09:00:00", duration_minutes=30, **extra)
    problem = assert_problem(tenant.client.post("/v1/bookings", json=body), 422, "validation_failed")
    assert error_fields(problem) == [field]
    assert message in problem["errors"][0]["message"]


def test_a_nul_in_the_id_start_or_cancellation_reason_is_422(tenant: Tenant) -> None:
    host = tenant.create_user()
    good = booking(host["id"], f"{MONDAY}T09:00:00", duration_minutes=30)
    for field, value in (("host_id", host["id"] + "\x00"), ("start", f"{MONDAY}T09:00:00\x00")):
        problem = assert_problem(
            tenant.client.post("/v1/bookings", json={**good, field: value}), 422, "validation_failed"
        )
        assert error_fields(problem) == [field]
    created = tenant.client.post("/v1/bookings", json=good).json()
    cancel = tenant.client.post(f"/v1/bookings/{created['id']}/cancel", json={"reason": "ill\x00"})
    assert error_fields(assert_problem(cancel, 422, "validation_failed")) == ["reason"]
    # A reason is free text: it may span lines.
    cancelled = tenant.client.post(f"/v1/bookings/{created['id']}/cancel", json={"reason": "Host is ill.\nSorry!"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["cancellation_reason"] == "Host is ill.\nSorry!"


@pytest.mark.parametrize(
    ("path", "body", "field", "message"),
    [
        ("/v1/api-keys", {"name": "ci\r\nkey", "role": "app"}, "name", ONE_LINE),
        (
            "/v1/webhook-endpoints",
            {"url": "http://127.0.0.1:9/\r\nX: y", "events": ["booking.created"]},
            "url",
            ONE_LINE,
        ),
        (
            "/v1/webhook-endpoints",
            {"url": "http://127.0.0.1:9/", "events": ["booking.created"], "description": "a\x00"},
            "description",
            NO_NUL,
        ),
    ],
)
def test_keys_and_webhook_endpoints_refuse_nul_and_line_breaks(
    tenant: Tenant, path: str, body: dict[str, Any], field: str, message: str
) -> None:
    problem = assert_problem(tenant.client.post(path, json=body), 422, "validation_failed")
    assert error_fields(problem) == [field]
    assert message in problem["errors"][0]["message"]


def test_a_redirect_uri_with_a_line_break_is_422(tenant: Tenant) -> None:
    user = tenant.create_user()
    response = tenant.client.post(
        f"/v1/users/{user['id']}/connections/google/authorize", json={"redirect_uri": "https://app.example/\r\nx"}
    )
    assert error_fields(assert_problem(response, 422, "validation_failed")) == ["redirect_uri"]


def test_a_nul_in_the_query_is_422_and_in_a_path_id_404(tenant: Tenant) -> None:
    response = tenant.client.get("/v1/bookings", params={"host_id": "usr_\x00"})
    assert error_fields(assert_problem(response, 422, "validation_failed")) == ["host_id"]
    assert_problem(tenant.client.get("/v1/users/usr_%00"), 404, "not_found")


def test_text_without_nul_or_line_breaks_is_accepted_as_sent(tenant: Tenant) -> None:
    name = "Zoë O'Brien-Ōtsuka \t (Büro) 🗓"
    user = tenant.create_user(name=name)
    assert user["name"] == name
    body = booking(
        user["id"],
        f"{MONDAY}T09:00:00",
        duration_minutes=30,
        title="Kick-off: “Q1” \u2014 plan",
        attendees=[{"email": "guest@example.com", "name": name}],
        metadata={"notes": "line one\nline two", "tags": ["a", "b"]},
    )
    created = tenant.client.post("/v1/bookings", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["attendees"][0]["name"] == name
    assert created.json()["metadata"]["notes"] == "line one\nline two"
