"""Bad input never answers 500; every error is problem+json; request ids are echoed or made."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.integration.helpers import MONDAY, assert_problem, booking, error_fields
from tests.support.tenants import Tenant

GENERATED_ID = re.compile(r"^[A-Za-z0-9._:/+=@-]{8,128}$")


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"host_id": "usr_x",}', b"not json at all", b"\xff\xfe\x00", b'{"a": 1} trailing', b"{'single': 1}"],
)
def test_malformed_json_is_400(tenant: Tenant, raw: bytes) -> None:
    for path in ("/v1/bookings", "/v1/users", "/v1/api-keys"):
        response = tenant.client.post(path, content=raw, headers={"Content-Type": "application/json"})
        assert_problem(response, 400, "malformed_json")


def test_malformed_json_on_patch_and_cancel(tenant: Tenant) -> None:
    user = tenant.create_user()
    headers = {"Content-Type": "application/json"}
    assert_problem(
        tenant.client.patch(f"/v1/users/{user['id']}", content=b"{nope", headers=headers), 400, "malformed_json"
    )
    assert_problem(
        tenant.client.post("/v1/bookings/bkg_01jd3w9k6v0m3y0q6d2x9t7h1e/cancel", content=b"[", headers=headers),
        400,
        "malformed_json",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "body"),
        ("a string", "body"),
        (42, "body"),
        (None, "body"),
    ],
)
def test_a_body_that_is_not_an_object(tenant: Tenant, body: object, field: str) -> None:
    problem = assert_problem(tenant.client.post("/v1/bookings", json=body), 422, "validation_failed")
    assert error_fields(problem) == [field]


def test_wrong_types_name_the_field(tenant: Tenant) -> None:
    host = tenant.create_user()
    base = booking(host["id"], f"{MONDAY}T09:00:00", duration_minutes=30)
    for field, value in (
        ("duration_minutes", "thirty"),
        ("ignore_availability", "yes"),
        ("attendees", {"email": "a@example.com"}),
        ("timezone", 1),
        ("title", ["x"]),
    ):
        problem = assert_problem(
            tenant.client.post("/v1/bookings", json={**base, field: value}), 422, "validation_failed"
        )
        assert error_fields(problem) == [field], problem
    problem = assert_problem(
        tenant.client.post("/v1/bookings", json={**base, "attendees": [{"email": "a@example.com", "name": 7}]}),
        422,
        "validation_failed",
    )
    assert error_fields(problem) == ["attendees[0].name"]
    problem = assert_problem(
        tenant.client.post("/v1/bookings", json={"start": f"{MONDAY}T09:00:00"}), 422, "validation_failed"
    )
    assert error_fields(problem) == ["host_id"]


def test_unknown_fields_are_ignored(tenant: Tenant) -> None:
    host = tenant.create_user()
    body = {**booking(host["id"], f"{MONDAY}T09:00:00", duration_minutes=30), "colour": "blue", "priority": {"x": 1}}
    response = tenant.client.post("/v1/bookings", json=body)
    assert response.status_code == 201, response.text
    assert "colour" not in response.json()
    assert "priority" not in response.json()
    response = tenant.client.patch(f"/v1/users/{host['id']}", json={"favourite_colour": "green"})
    assert response.status_code == 200
    assert response.json()["name"] == host["name"]


def test_body_larger_than_64_kib_is_413(tenant: Tenant) -> None:
    host = tenant.create_user()
    body = booking(host["id"], f"{MONDAY}T09:00:00", duration_minutes=30, title="x", metadata={"blob": "y" * 70_000})
    for path in ("/v1/bookings", "/v1/users", "/v1/api-keys"):
        assert_problem(tenant.client.post(path, json=body), 413, "payload_too_large")
    # Just under the limit is read normally (and refused for its content, not its size).
    small = {**body, "metadata": {"blob": "y" * 60_000}, "title": "t" * 600}
    problem = assert_problem(tenant.client.post("/v1/bookings", json=small), 422, "validation_failed")
    assert error_fields(problem) == ["title"]
    assert tenant.client.get("/v1/bookings", params={"host_id": host["id"]}).json()["data"] == []


def test_unknown_routes_and_methods(tenant: Tenant) -> None:
    assert_problem(tenant.client.get("/v1/nothing-here"), 404, "not_found")
    assert_problem(tenant.client.get("/nothing-here"), 404, "not_found")
    response = tenant.client.delete("/v1/users")
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers.get("allow", "")


def test_request_id_is_generated_when_absent(tenant: Tenant) -> None:
    seen = set()
    for path in ("/v1/users", "/health", "/v1/nothing-here"):
        response = tenant.client.get(path)
        request_id = response.headers["x-request-id"]
        assert GENERATED_ID.match(request_id)
        seen.add(request_id)
    assert len(seen) == 3
    with httpx.Client(base_url=tenant.base_url) as anonymous:
        response = anonymous.get("/v1/users")
    body = assert_problem(response, 401, "unauthenticated")
    assert GENERATED_ID.match(body["request_id"])


@pytest.mark.parametrize("request_id", ["abc-123", "req_01HXYZ", "trace:span/1+2=3@x.y", "a" * 128])
def test_safe_client_request_id_is_echoed(tenant: Tenant, request_id: str) -> None:
    response = tenant.client.get("/v1/users", headers={"X-Request-ID": request_id})
    assert response.headers["x-request-id"] == request_id
    problem = tenant.client.get("/v1/users/usr_01jd3w9k6v0m3y0q6d2x9t7h1e", headers={"X-Request-ID": request_id})
    assert assert_problem(problem, 404, "not_found")["request_id"] == request_id
    with httpx.Client(base_url=tenant.base_url) as anonymous:
        unauthenticated = anonymous.get("/v1/users", headers={"X-Request-ID": request_id})
    assert assert_problem(unauthenticated, 401, "unauthenticated")["request_id"] == request_id


@pytest.mark.parametrize("request_id", ["a" * 129, "a" * 200, "has space", "semi;colon", 'quote"d', "<script>", "é"])
def test_unsafe_client_request_id_is_replaced(tenant: Tenant, request_id: str) -> None:
    response = tenant.client.get(
        "/v1/users/usr_01jd3w9k6v0m3y0q6d2x9t7h1e", headers={"X-Request-ID": request_id.encode()}
    )
    replaced = response.headers["x-request-id"]
    assert replaced != request_id
    assert GENERATED_ID.match(replaced)
    assert assert_problem(response, 404, "not_found")["request_id"] == replaced


def test_server_errors_do_not_leak_for_odd_ids(tenant: Tenant) -> None:
    """Path ids of any shape answer 404, never 500."""
    for odd in ("%00", "..%2F..%2Fetc", "x" * 300, "usr_" + "z" * 26, "bkg_", "' OR 1=1 --"):
        for path in (f"/v1/users/{odd}", f"/v1/bookings/{odd}"):
            response = tenant.client.get(path)
            assert response.status_code == 404, (path, response.status_code, response.text)
            assert_problem(response, 404, "not_found")
