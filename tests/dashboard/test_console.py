"""The developer console: owners create and revoke API keys and read the audit log."""

from __future__ import annotations

import re

import httpx

from tests.dashboard.conftest import DashboardClient
from tests.support.tenants import Tenant


def created_secret(page: httpx.Response) -> str:
    found = re.search(r'id="new-key" type="text" readonly value="(hub_sk_[^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def test_owner_creates_a_key_and_sees_the_secret_once(tenant: Tenant, owner: DashboardClient) -> None:
    owner.get("/dashboard/keys")
    page = owner.post(
        "/dashboard/keys", {"name": "Partner app", "role": "app", "scopes": ["bookings:read", "availability:read"]}
    )
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    secret = created_secret(page)
    assert "the only time it is shown" in page.text
    api = tenant.key_client(secret)
    assert api.get("/v1/bookings").status_code == 200  # the new key works with its scopes
    assert api.get("/v1/users").status_code == 403
    api.close()
    listing = owner.get("/dashboard/keys")
    assert "Partner app" in listing.text
    assert secret[:15] in listing.text
    assert secret not in listing.text
    assert "availability:read, bookings:read" in listing.text


def test_owner_revokes_a_key_and_the_audit_log_says_who(tenant: Tenant, owner: DashboardClient) -> None:
    owner.get("/dashboard/keys")
    secret = created_secret(owner.post("/dashboard/keys", {"name": "Old integration", "role": "member"}))
    key_id = tenant.key_client(secret).get("/v1/api-keys").status_code  # members cannot list keys...
    assert key_id == 403  # ...but the key itself is valid
    listing = owner.get("/dashboard/keys")
    found = re.search(r'id="key-(key_[0-9a-z]{26})">\s*<td>Old integration', listing.text)
    assert found, listing.text
    response = owner.post(f"/dashboard/keys/{found.group(1)}/revoke")
    assert response.status_code == 303
    assert "Revoked Old integration" in owner.follow(response).text
    assert tenant.key_client(secret).get("/v1/bookings").status_code == 401
    audit = owner.get("/dashboard/audit")
    assert "api_key.revoked" in audit.text
    assert "api_key.created" in audit.text
    assert "bootstrap" in audit.text  # the actor: the owner key this session signed in with
    assert found.group(1) in audit.text


def test_support_cannot_create_or_revoke_keys(tenant: Tenant, support: DashboardClient) -> None:
    support.get("/dashboard")
    response = support.post("/dashboard/keys", {"name": "escalation", "role": "owner"})
    assert response.status_code == 403
    assert "needs the `keys:manage` scope" in response.text
    owner_key_id = tenant.client.get("/v1/api-keys").json()["data"][0]["id"]
    assert support.post(f"/dashboard/keys/{owner_key_id}/revoke").status_code == 403
    assert tenant.client.get("/v1/api-keys").status_code == 200  # the owner key still works
    assert "escalation" not in str(tenant.client.get("/v1/api-keys").json())


def test_invalid_key_requests_are_explained(owner: DashboardClient) -> None:
    owner.get("/dashboard/keys")
    no_scope = owner.post("/dashboard/keys", {"name": "app without scopes", "role": "app"})
    assert no_scope.status_code == 422
    assert "needs at least one scope" in no_scope.text
    too_much = owner.post("/dashboard/keys", {"name": "support writer", "role": "support", "scopes": "bookings:write"})
    assert too_much.status_code == 422
    assert "cannot hold bookings:write" in too_much.text
    no_name = owner.post("/dashboard/keys", {"name": "", "role": "app", "scopes": "bookings:read"})
    assert no_name.status_code == 422
    assert "app without scopes" not in owner.get("/dashboard/keys").text


def test_revoking_the_sessions_own_key_signs_out(tenant: Tenant, owner: DashboardClient) -> None:
    listing = owner.get("/dashboard/keys")
    own = re.search(r'id="key-(key_[0-9a-z]{26})">\s*<td>bootstrap', listing.text)
    assert own
    response = owner.post(f"/dashboard/keys/{own.group(1)}/revoke")
    assert response.headers["location"] == "/dashboard/sign-in"
    assert owner.get("/dashboard").status_code == 303
