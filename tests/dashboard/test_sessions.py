"""Dashboard sessions end server-side: a copy of the cookie stops working after sign-out, key
revocation and an owner's "sign out everywhere"."""

from __future__ import annotations

from dashboard.auth import COOKIE
from hub.db import Database
from hub.db.tables import AuditEvent, DashboardSession
from tests.dashboard.conftest import DashboardClient, signed_in
from tests.integration.helpers import key_id_of
from tests.support.tenants import Tenant


def copy_of(client: DashboardClient) -> DashboardClient:
    """Another browser holding a copy of ``client``'s session cookie."""
    thief = DashboardClient(client.base_url)
    cookie = client.http.cookies.get(COOKIE, path="/dashboard")
    assert cookie
    thief.http.cookies.set(COOKIE, cookie, path="/dashboard")
    return thief


def test_a_copied_cookie_stops_working_at_sign_out(tenant: Tenant) -> None:
    client = signed_in(tenant.base_url, tenant.key)
    copy = copy_of(client)
    assert copy.get("/dashboard").status_code == 200
    client.get("/dashboard")
    assert client.post("/dashboard/sign-out").status_code == 303
    assert copy.get("/dashboard").status_code == 303
    assert copy.get("/dashboard/keys").headers["location"].startswith("/dashboard/sign-in")
    client.close()
    copy.close()


def test_revoking_the_key_on_the_dashboard_ends_its_sessions(tenant: Tenant, db: Database) -> None:
    secret = tenant.create_key("support")
    key_id = key_id_of(db, secret)
    session = signed_in(tenant.base_url, secret)
    copy = copy_of(session)
    assert copy.get("/dashboard/connections").status_code == 200
    owner = signed_in(tenant.base_url, tenant.key)
    owner.get("/dashboard/keys")
    assert owner.post(f"/dashboard/keys/{key_id}/revoke").status_code == 303
    assert session.get("/dashboard/connections").status_code == 303
    assert copy.get("/dashboard/connections").status_code == 303
    with db.read() as reading:
        assert reading.query(DashboardSession).filter_by(key_id=key_id).count() == 0
    for client in (session, copy, owner):
        client.close()


def test_sign_out_everywhere_ends_every_session_of_the_key(tenant: Tenant, db: Database) -> None:
    secret = tenant.create_key("support")
    key_id = key_id_of(db, secret)
    laptop = signed_in(tenant.base_url, secret)
    phone = signed_in(tenant.base_url, secret)
    copy = copy_of(laptop)
    other_key = signed_in(tenant.base_url, tenant.create_key("support"))
    for client in (laptop, phone, copy, other_key):
        assert client.get("/dashboard/connections").status_code == 200

    owner = signed_in(tenant.base_url, tenant.key)
    page = owner.get("/dashboard/keys")
    assert f'action="/dashboard/keys/{key_id}/sign-out-everywhere"' in page.text
    assert owner.post(f"/dashboard/keys/{key_id}/sign-out-everywhere", csrf="").status_code == 403
    assert laptop.get("/dashboard/connections").status_code == 200  # refused without the CSRF token

    response = owner.post(f"/dashboard/keys/{key_id}/sign-out-everywhere")
    assert response.status_code == 303
    assert "Ended 2 dashboard sessions of support key" in owner.follow(response).text
    for client in (laptop, phone, copy):
        assert client.get("/dashboard/connections").status_code == 303
    assert other_key.get("/dashboard/connections").status_code == 200
    assert owner.get("/dashboard").status_code == 200
    assert tenant.key_client(secret).get("/v1/bookings").status_code == 200  # the key itself keeps working
    assert signed_in(tenant.base_url, secret).get("/dashboard").status_code == 200  # and may sign in again

    with db.read() as reading:
        event = reading.query(AuditEvent).filter_by(action="api_key.sessions_ended", target_id=key_id).one()
    assert event.data["sessions"] == 2
    assert event.actor_key_id == key_id_of(db, tenant.key)
    for client in (laptop, phone, copy, other_key, owner):
        client.close()


def test_sign_out_everywhere_for_the_sessions_own_key_signs_out(tenant: Tenant, db: Database) -> None:
    owner = signed_in(tenant.base_url, tenant.key)
    owner.get("/dashboard/keys")
    response = owner.post(f"/dashboard/keys/{key_id_of(db, tenant.key)}/sign-out-everywhere")
    assert response.headers["location"] == "/dashboard/sign-in"
    assert owner.get("/dashboard").status_code == 303
    owner.close()


def test_sessions_are_stored_hashed(tenant: Tenant, db: Database) -> None:
    client = signed_in(tenant.base_url, tenant.key)
    cookie = client.http.cookies.get(COOKIE, path="/dashboard") or ""
    with db.read() as reading:
        stored = [row.id for row in reading.query(DashboardSession).filter_by(key_id=key_id_of(db, tenant.key))]
    assert stored
    assert all(len(value) == 64 and value not in cookie for value in stored)
    client.close()
