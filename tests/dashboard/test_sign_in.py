"""Signing in to the dashboard: who may, the session cookie, CSRF, sign-out, revocation."""

from __future__ import annotations

import time

import msgspec

from dashboard.auth import COOKIE, Session
from dashboard.signing import signer_for
from hub.settings import Settings
from tests.dashboard.conftest import DashboardClient, signed_in
from tests.integration.helpers import key_id_of
from tests.support.tenants import Tenant


def test_a_page_without_a_session_sends_you_to_sign_in(tenant: Tenant) -> None:
    client = DashboardClient(tenant.base_url)
    response = client.get("/dashboard/connections?status=error")
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/sign-in?next=%2Fdashboard%2Fconnections%3Fstatus%3Derror"


def test_owner_signs_in_and_lands_where_they_wanted(tenant: Tenant) -> None:
    client = DashboardClient(tenant.base_url)
    form = client.get("/dashboard/sign-in")
    assert form.status_code == 200
    assert 'type="password" name="api_key"' in form.text
    response = client.sign_in(tenant.key, next_path="/dashboard/jobs")
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/jobs"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/dashboard", "Max-Age=28800"):
        assert attribute.lower() in cookie.lower(), cookie
    assert tenant.key not in cookie  # the session names the key, it never holds it
    page = client.follow(response)
    assert page.status_code == 200
    assert "Failed jobs" in page.text
    assert "owner" in page.text


def test_support_key_signs_in(tenant: Tenant) -> None:
    client = signed_in(tenant.base_url, tenant.create_key("support"))
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert 'class="role role-support"' in page.text
    assert "/dashboard/keys" not in page.text  # the developer console is for owners


def test_wrong_key_is_refused(tenant: Tenant) -> None:
    client = DashboardClient(tenant.base_url)
    response = client.sign_in("hub_sk_not-a-real-key")
    assert response.status_code == 401
    assert "not a valid API key" in response.text
    assert client.get("/dashboard").status_code == 303  # still not signed in


def test_other_roles_are_refused_with_a_reason(tenant: Tenant) -> None:
    for role, scopes in (("member", None), ("app", ["bookings:read"])):
        client = DashboardClient(tenant.base_url)
        response = client.sign_in(tenant.create_key(role, scopes))
        assert response.status_code == 403
        assert f"This is a {role} key" in response.text
        assert "support or owner" in response.text
        assert client.get("/dashboard").status_code == 303


def test_revoked_key_cannot_sign_in(tenant: Tenant) -> None:
    key = tenant.create_key("support")
    assert tenant.client.post(f"/v1/api-keys/{key_id_of(tenant.db, key)}/revoke").status_code == 200
    response = DashboardClient(tenant.base_url).sign_in(key)
    assert response.status_code == 401
    assert "revoked" in response.text


def test_sign_in_without_or_with_a_wrong_csrf_token_is_refused(tenant: Tenant) -> None:
    client = DashboardClient(tenant.base_url)
    client.get("/dashboard/sign-in")
    missing = client.http.post("/dashboard/sign-in", data={"api_key": tenant.key})
    assert missing.status_code == 403
    wrong = client.http.post("/dashboard/sign-in", data={"api_key": tenant.key, "csrf_token": "0" * 64})
    assert wrong.status_code == 403
    assert "did not come from the dashboard" in wrong.text
    assert client.get("/dashboard").status_code == 303


def test_a_post_from_another_site_is_refused(tenant: Tenant) -> None:
    client = DashboardClient(tenant.base_url)
    client.get("/dashboard/sign-in")
    response = client.http.post(
        "/dashboard/sign-in",
        data={"api_key": tenant.key, "csrf_token": client.token or ""},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert "another site" in response.text


def test_a_key_in_the_url_signs_nobody_in(tenant: Tenant) -> None:
    client = DashboardClient(tenant.base_url)
    client.get(f"/dashboard/sign-in?api_key={tenant.key}")
    assert client.get("/dashboard").status_code == 303


def test_revoking_the_key_ends_the_session_at_once(tenant: Tenant) -> None:
    key = tenant.create_key("support")
    client = signed_in(tenant.base_url, key)
    assert client.get("/dashboard/connections").status_code == 200
    assert tenant.client.post(f"/v1/api-keys/{key_id_of(tenant.db, key)}/revoke").status_code == 200
    response = client.get("/dashboard/connections")
    assert response.status_code == 303
    sign_in = client.follow(response)
    assert "was revoked" in sign_in.text


def test_sign_out_ends_the_session(owner: DashboardClient) -> None:
    owner.get("/dashboard")
    response = owner.post("/dashboard/sign-out")
    assert response.status_code == 303
    page = owner.follow(response)
    assert "You are signed out." in page.text
    assert owner.get("/dashboard").status_code == 303


def test_sign_out_needs_the_csrf_token(owner: DashboardClient) -> None:
    owner.get("/dashboard")
    assert owner.post("/dashboard/sign-out", csrf="").status_code == 403
    assert owner.get("/dashboard").status_code == 200  # still signed in


def test_expired_or_forged_sessions_are_not_accepted(tenant: Tenant, settings: Settings) -> None:
    signer = signer_for(settings)
    key_id = key_id_of(tenant.db, tenant.key)
    expired = Session(nonce="n", expires=int(time.time()) - 1, key_id=key_id, organization_id=tenant.organization_id)
    forged = signer.sign(
        msgspec.json.encode(
            Session(nonce="n", expires=int(time.time()) + 60, key_id=key_id, organization_id=tenant.organization_id)
        ),
        "flash",
    )
    for value in (signer.sign(msgspec.json.encode(expired), "session"), forged, "garbage", forged + "x"):
        client = DashboardClient(tenant.base_url)
        client.http.cookies.set(COOKIE, value, path="/dashboard")
        assert client.get("/dashboard").status_code == 303, value
    valid = Session(nonce="n", expires=int(time.time()) + 60, key_id=key_id, organization_id=tenant.organization_id)
    client = DashboardClient(tenant.base_url)
    client.http.cookies.set(COOKIE, signer.sign(msgspec.json.encode(valid), "session"), path="/dashboard")
    # correctly signed, but Hub never started this session: no server-side record, no session
    assert client.get("/dashboard").status_code == 303


def test_the_sign_in_form_sends_a_signed_in_viewer_on(owner: DashboardClient) -> None:
    response = owner.get("/dashboard/sign-in?next=/dashboard/jobs")
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/jobs"
    assert owner.get("/dashboard/sign-in?next=https://evil.example/").headers["location"] == "/dashboard"
