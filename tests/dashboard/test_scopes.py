"""The dashboard checks a key's scopes, the same ones its API counterpart needs: a page or
action the key may not use answers 403 naming the missing scope, and is not in the navigation."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.handlers import HTTPRouteHandler

from hub.app import create_app
from hub.auth.scopes import OPERATION_SCOPES
from hub.db import Database
from hub.db.tables import ApiKey, WebhookDelivery, WebhookEndpoint
from hub.settings import Settings
from tests.dashboard import seed
from tests.dashboard.conftest import DashboardClient, signed_in
from tests.integration.helpers import key_id_of
from tests.support.tenants import Tenant

NAV = {
    "connections": '<a href="/dashboard/connections"',
    "sync": '<a href="/dashboard/sync-runs"',
    "jobs": '<a href="/dashboard/jobs"',
    "webhooks": '<a href="/dashboard/webhooks"',
    "keys": '<a href="/dashboard/keys"',
    "audit": '<a href="/dashboard/audit"',
}


def disabled_endpoint_with_failed_delivery(tenant: Tenant, db: Database) -> tuple[str, str]:
    created = tenant.client.post(
        "/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/hook", "events": ["booking.created"]}
    )
    assert created.status_code == 201, created.text
    endpoint_id = str(created.json()["id"])
    delivery_id = seed.delivery(db, tenant.organization_id, endpoint_id, status="failed")
    seed.set_endpoint(db, endpoint_id, status="disabled", disabled_reason="410 Gone", disabled_at=seed.now())
    return endpoint_id, delivery_id


def refused(response: Any, scope: str) -> None:
    assert response.status_code == 403, response.text
    assert "Missing scope" in response.text
    assert f"`{scope}`" in response.text


@pytest.fixture
def bookings_only_owner(tenant: Tenant) -> Any:
    client = signed_in(tenant.base_url, tenant.create_key("owner", ["bookings:read"]))
    yield client
    client.close()


def test_an_owner_key_without_keys_manage_cannot_create_or_revoke_keys(
    tenant: Tenant, db: Database, bookings_only_owner: DashboardClient
) -> None:
    client = bookings_only_owner
    overview = client.get("/dashboard")
    assert overview.status_code == 200
    for link in NAV.values():
        assert link not in overview.text
    refused(client.get("/dashboard/keys"), "keys:manage")

    victim = tenant.create_key("support")
    victim_id = key_id_of(db, victim)
    refused(client.post(f"/dashboard/keys/{victim_id}/revoke"), "keys:manage")
    refused(client.post("/dashboard/keys", {"name": "escalation", "role": "owner"}), "keys:manage")
    refused(client.post(f"/dashboard/keys/{victim_id}/sign-out-everywhere"), "keys:manage")
    with db.read() as session:
        assert session.get(ApiKey, victim_id).revoked_at is None  # type: ignore[union-attr]
        names = [key.name for key in session.query(ApiKey).filter_by(organization_id=tenant.organization_id)]
    assert "escalation" not in names
    assert tenant.key_client(victim).get("/v1/bookings").status_code == 200


def test_an_owner_key_without_webhooks_write_cannot_enable_endpoints_or_retry(
    tenant: Tenant, db: Database, bookings_only_owner: DashboardClient
) -> None:
    endpoint_id, delivery_id = disabled_endpoint_with_failed_delivery(tenant, db)
    client = bookings_only_owner
    client.get("/dashboard")
    refused(client.get(f"/dashboard/webhooks/{endpoint_id}"), "webhooks:read")
    refused(client.post(f"/dashboard/webhooks/{endpoint_id}/enable"), "webhooks:write")
    refused(client.post(f"/dashboard/deliveries/{delivery_id}/retry"), "webhooks:write")
    refused(client.post("/dashboard/jobs/retry-all"), "connections:write")
    with db.read() as session:
        assert session.get(WebhookEndpoint, endpoint_id).status == "disabled"  # type: ignore[union-attr]
        assert session.get(WebhookDelivery, delivery_id).status == "failed"  # type: ignore[union-attr]


def test_an_owner_key_with_webhooks_write_enables_the_endpoint(tenant: Tenant, db: Database) -> None:
    endpoint_id, _ = disabled_endpoint_with_failed_delivery(tenant, db)
    client = signed_in(tenant.base_url, tenant.create_key("owner", ["webhooks:read", "webhooks:write"]))
    page = client.get(f"/dashboard/webhooks/{endpoint_id}")
    assert "Enable endpoint" in page.text
    assert NAV["webhooks"] in page.text
    assert NAV["keys"] not in page.text
    assert client.post(f"/dashboard/webhooks/{endpoint_id}/enable").status_code == 303
    with db.read() as session:
        assert session.get(WebhookEndpoint, endpoint_id).status == "enabled"  # type: ignore[union-attr]
    client.close()


def test_a_support_key_sees_and_does_only_what_its_scopes_allow(
    tenant: Tenant, db: Database, host: dict[str, Any]
) -> None:
    endpoint_id, delivery_id = disabled_endpoint_with_failed_delivery(tenant, db)
    seed.set_endpoint(db, endpoint_id, status="enabled", disabled_reason=None, disabled_at=None)
    connection_id = seed.connection(db, tenant.organization_id, host["id"])
    client = signed_in(tenant.base_url, tenant.create_key("support", ["bookings:read"]))
    overview = client.get("/dashboard")
    assert overview.status_code == 200
    assert "Bookings created" in overview.text
    assert "Connections that need attention" not in overview.text
    assert "Client webhooks, last 24 h" not in overview.text
    for link in NAV.values():
        assert link not in overview.text
    for path in ("/dashboard/connections", f"/dashboard/connections/{connection_id}", "/dashboard/sync-runs"):
        refused(client.get(path), "connections:read")
    for path in ("/dashboard/webhooks", f"/dashboard/webhooks/{endpoint_id}"):
        refused(client.get(path), "webhooks:read")
    refused(client.get("/dashboard/jobs"), "connections:read")
    refused(client.get("/dashboard/audit"), "audit:read")
    refused(client.post(f"/dashboard/deliveries/{delivery_id}/retry"), "webhooks:read")
    refused(client.post(f"/dashboard/connections/{connection_id}/resync"), "connections:read")
    with db.read() as session:
        assert session.get(WebhookDelivery, delivery_id).status == "failed"  # type: ignore[union-attr]
    client.close()


def test_a_support_key_with_webhooks_read_sees_webhooks_but_not_connections(tenant: Tenant, db: Database) -> None:
    endpoint_id, _ = disabled_endpoint_with_failed_delivery(tenant, db)
    client = signed_in(tenant.base_url, tenant.create_key("support", ["webhooks:read"]))
    overview = client.get("/dashboard")
    assert NAV["webhooks"] in overview.text
    assert NAV["connections"] not in overview.text
    page = client.get(f"/dashboard/webhooks/{endpoint_id}")
    assert page.status_code == 200
    assert "Enable endpoint" not in page.text
    refused(client.post(f"/dashboard/webhooks/{endpoint_id}/enable"), "webhooks:write")
    client.close()


def test_every_v1_route_names_an_operation_of_the_one_table(settings: Settings, db: Database) -> None:
    """The API's scope guard and the dashboard read the same table: no /v1 route decides on its own."""
    app = create_app(settings, database=db)
    unguarded = []
    for route in app.routes:
        if not route.path.startswith("/v1/"):
            continue
        for handler in getattr(route, "route_handlers", []):
            assert isinstance(handler, HTTPRouteHandler)
            if handler.http_methods <= {"OPTIONS", "HEAD"}:
                continue  # Litestar's own answers to OPTIONS
            assert "scope" not in handler.opt, route.path
            operation = handler.opt.get("operation")
            if operation is None:
                unguarded.append(f"{sorted(handler.http_methods)} {route.path}")
            else:
                assert operation in OPERATION_SCOPES
    assert unguarded == [], unguarded
