"""``/health``, ``/ready``, ``/metrics`` and ``/schema/openapi.json``, as an operator sees them."""

from __future__ import annotations

import re

import httpx
import msgspec

from hub.app import create_app
from hub.db import Database
from hub.settings import Settings
from tests.integration.helpers import MONDAY, assert_problem, booking, create_booking
from tests.support.servers import LiveServer
from tests.support.tenants import Tenant

# Every /v1 route this part of the API defines (API-v1.md), in OpenAPI path syntax.
V1_PATHS = {
    "/v1/users": {"get", "post"},
    "/v1/users/{user_id}": {"get", "patch"},
    "/v1/bookings": {"get", "post"},
    "/v1/bookings/{booking_id}": {"get"},
    "/v1/bookings/{booking_id}/cancel": {"post"},
    "/v1/availability": {"get"},
    "/v1/api-keys": {"get", "post"},
    "/v1/api-keys/{key_id}/revoke": {"post"},
    "/v1/audit-events": {"get"},
}


def test_health_needs_no_key(live_server: LiveServer) -> None:
    response = httpx.get(f"{live_server.url}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"]


def test_ready_reports_its_checks(live_server: LiveServer) -> None:
    response = httpx.get(f"{live_server.url}/ready")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def _bookings_total(server: LiveServer) -> dict[str, float]:
    response = httpx.get(f"{server.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    values = {
        match["outcome"]: float(match["value"])
        for match in re.finditer(
            r'^hub_bookings_total\{outcome="(?P<outcome>\w+)"\} (?P<value>\S+)$', response.text, re.MULTILINE
        )
    }
    assert set(values) >= {"created", "conflict", "rejected", "error"}, response.text[:2000]
    return values


def test_metrics_count_booking_outcomes(tenant: Tenant, live_server: LiveServer) -> None:
    host = tenant.create_user()
    before = _bookings_total(live_server)

    body = booking(host["id"], f"{MONDAY}T09:00:00", duration_minutes=30)
    create_booking(tenant.client, body)
    after_create = _bookings_total(live_server)
    assert after_create["created"] == before["created"] + 1
    assert after_create["conflict"] == before["conflict"]

    assert_problem(tenant.client.post("/v1/bookings", json=body), 409, "booking_conflict")
    assert_problem(tenant.client.post("/v1/bookings", json=body), 409, "booking_conflict")
    after_conflicts = _bookings_total(live_server)
    assert after_conflicts["conflict"] == before["conflict"] + 2
    assert after_conflicts["created"] == before["created"] + 1

    outside = booking(host["id"], "2030-12-07T09:00:00", duration_minutes=30)
    assert_problem(tenant.client.post("/v1/bookings", json=outside), 409, "outside_availability")
    after_rejected = _bookings_total(live_server)
    assert after_rejected["rejected"] == before["rejected"] + 1
    assert after_rejected["conflict"] == before["conflict"] + 2
    assert after_rejected["error"] == before["error"]


def test_metrics_include_request_metrics(tenant: Tenant, live_server: LiveServer) -> None:
    tenant.client.get("/v1/users")
    text = httpx.get(f"{live_server.url}/metrics").text
    assert re.search(r"^hub_requests_total\{", text, re.MULTILINE), text[:2000]


def test_openapi_lists_every_v1_path(live_server: LiveServer) -> None:
    response = httpx.get(f"{live_server.url}/schema/openapi.json")
    assert response.status_code == 200, response.text[:500]
    schema = response.json()
    assert schema["openapi"].startswith("3.1")
    paths = schema["paths"]
    for path, methods in V1_PATHS.items():
        assert path in paths, (path, sorted(paths))
        assert methods <= set(paths[path]), (path, set(paths[path]))
    for path in ("/health", "/ready"):
        assert path in paths

    # Every /v1 route the running app serves is documented, including ones added later.
    app = live_server.server.config.app
    served = {re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path) for route in app.routes if route.path.startswith("/v1")}
    assert served <= set(paths), served - set(paths)
    assert "bearerAuth" in schema["components"]["securitySchemes"]


def test_without_redis_ready_fails_but_the_api_keeps_working(tenant: Tenant, settings: Settings, db: Database) -> None:
    """An unreachable Redis makes /ready answer 503, while bookings go on (the rate limiter lets
    requests through rather than turning a Redis outage into an API outage)."""
    no_redis = msgspec.structs.replace(settings, redis_url="redis://127.0.0.1:1/0", rate_limit_per_minute=3)
    host = tenant.create_user()
    with LiveServer(create_app(no_redis, database=db)) as server:
        ready = httpx.get(f"{server.url}/ready", timeout=30)
        problem = assert_problem(ready, 503, "not_ready")
        assert problem["checks"]["database"] == "ok"
        assert problem["checks"]["redis"] != "ok"
        assert httpx.get(f"{server.url}/health").status_code == 200

        with httpx.Client(base_url=server.url, headers=Tenant.auth(tenant.key), timeout=30) as client:
            for _ in range(5):  # more than the limit of 3: not counted while Redis is away
                response = client.get(f"/v1/users/{host['id']}")
                assert response.status_code == 200, response.text
                assert "ratelimit-limit" not in response.headers
            create_booking(client, booking(host["id"], f"{MONDAY}T12:00:00", duration_minutes=30))


def test_every_service_response_has_a_request_id(live_server: LiveServer) -> None:
    for path in ("/health", "/ready", "/metrics", "/schema/openapi.json"):
        response = httpx.get(f"{live_server.url}{path}", headers={"X-Request-ID": f"svc-{path.strip('/')}"})
        assert response.status_code == 200, path
        assert response.headers.get("x-request-id") == f"svc-{path.strip('/')}", path
