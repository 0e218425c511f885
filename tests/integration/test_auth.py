"""Authentication, roles and scopes, API keys, the audit log and tenant isolation over HTTP."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from sqlalchemy import update

from hub.app import create_app
from hub.auth.authenticate import CACHE_SECONDS, PrincipalCache
from hub.auth.service import bootstrap_key
from hub.db import Database
from hub.db.tables import ApiKey
from hub.settings import Settings
from tests.integration.helpers import (
    MONDAY,
    assert_problem,
    booking,
    create_booking,
    error_fields,
    key_id_of,
    list_all,
)
from tests.support.tenants import Tenant

# --- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer hub_sk_thisKeyDoesNotExist0000000000000000000000"},
        {"Authorization": "Bearer garbage"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "hub_sk_missingScheme"},
    ],
)
def test_missing_or_invalid_key_is_unauthenticated(tenant: Tenant, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=tenant.base_url, headers=headers) as anonymous:
        for method, path in (("GET", "/v1/users"), ("POST", "/v1/bookings"), ("GET", "/v1/api-keys")):
            response = anonymous.request(method, path, json={} if method == "POST" else None)
            assert_problem(response, 401, "unauthenticated")
            assert response.headers["www-authenticate"].startswith("Bearer")


def test_bearer_scheme_is_case_insensitive(tenant: Tenant) -> None:
    for header in (f"bearer {tenant.key}", f"BEARER {tenant.key}", f"Bearer   {tenant.key}"):
        response = httpx.get(f"{tenant.base_url}/v1/users", headers={"Authorization": header})
        assert response.status_code == 200, (header, response.text)


def test_revoked_key_is_refused(tenant: Tenant) -> None:
    secret = tenant.create_key("member")
    member = tenant.key_client(secret)
    assert member.get("/v1/users").status_code == 200
    key_id = key_id_of(tenant.db, secret)
    assert tenant.client.post(f"/v1/api-keys/{key_id}/revoke").status_code == 200
    assert_problem(member.get("/v1/users"), 401, "api_key_revoked")
    assert_problem(member.post("/v1/users", json={}), 401, "api_key_revoked")


def test_a_key_revoked_by_another_process_is_refused_within_a_second(tenant: Tenant) -> None:
    """The server remembers a valid key for at most ``CACHE_SECONDS``: a revocation it did not
    make itself (another server process, ``hub keys``) ends access within that time."""
    secret = tenant.create_key("member")
    member = tenant.key_client(secret)
    assert member.get("/v1/users").status_code == 200  # the key is now in the server's cache
    key_id = key_id_of(tenant.db, secret)
    with tenant.db.write() as session:  # what another process's revocation leaves behind
        session.execute(update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=datetime.now(UTC)))
    time.sleep(CACHE_SECONDS + 0.1)
    assert_problem(member.get("/v1/users"), 401, "api_key_revoked")


def test_read_only_key_cannot_write(tenant: Tenant) -> None:
    host = tenant.create_user()
    reader = tenant.key_client(tenant.create_key("app", ["bookings:read"]))
    response = reader.post("/v1/bookings", json=booking(host["id"], f"{MONDAY}T09:00:00", duration_minutes=30))
    problem = assert_problem(response, 403, "insufficient_scope")
    assert problem["required_scope"] == "bookings:write"
    assert reader.get("/v1/bookings").status_code == 200
    # Nor read what its scopes do not cover.
    assert_problem(reader.get("/v1/users"), 403, "insufficient_scope")
    assert_problem(reader.get(f"/v1/users/{host['id']}"), 403, "insufficient_scope")
    assert_problem(
        reader.get(
            "/v1/availability",
            params={
                "user_id": host["id"],
                "start": "2030-12-02T00:00:00Z",
                "end": "2030-12-03T00:00:00Z",
                "duration_minutes": 30,
            },
        ),
        403,
        "insufficient_scope",
    )
    assert_problem(reader.get("/v1/api-keys"), 403, "insufficient_scope")
    assert_problem(reader.get("/v1/audit-events"), 403, "insufficient_scope")


def test_support_role_reads_but_cannot_write(tenant: Tenant) -> None:
    host = tenant.create_user()
    created = create_booking(tenant.client, booking(host["id"], f"{MONDAY}T09:00:00", duration_minutes=30))
    support = tenant.key_client(tenant.create_key("support"))

    assert support.get(f"/v1/users/{host['id']}").status_code == 200
    assert support.get(f"/v1/bookings/{created['id']}").status_code == 200
    assert support.get("/v1/bookings").status_code == 200
    writes = [
        ("POST", "/v1/users", {"name": "S", "email": "s@example.com", "timezone": "UTC"}),
        ("PATCH", f"/v1/users/{host['id']}", {"name": "Renamed"}),
        ("POST", "/v1/bookings", booking(host["id"], f"{MONDAY}T10:00:00", duration_minutes=30)),
        ("POST", f"/v1/bookings/{created['id']}/cancel", {}),
        ("POST", "/v1/api-keys", {"name": "x", "role": "support"}),
    ]
    for method, path, body in writes:
        assert_problem(support.request(method, path, json=body), 403, "insufficient_scope")
    # Nothing changed.
    assert tenant.client.get(f"/v1/users/{host['id']}").json()["name"] == host["name"]
    assert tenant.client.get(f"/v1/bookings/{created['id']}").json()["status"] == "confirmed"


# --- API keys ---------------------------------------------------------------------------------


def test_create_shows_the_secret_once_and_the_key_works(tenant: Tenant) -> None:
    response = tenant.client.post(
        "/v1/api-keys", json={"name": "CRM sync", "role": "app", "scopes": ["bookings:read", "users:read"]}
    )
    assert response.status_code == 201, response.text
    created = response.json()
    secret = created["key"]
    assert secret.startswith("hub_sk_")
    assert len(secret) > 30
    assert re.fullmatch(r"key_[0-9a-z]{26}", created["id"])
    assert created["object"] == "api_key"
    assert created["name"] == "CRM sync"
    assert created["role"] == "app"
    assert created["scopes"] == ["bookings:read", "users:read"]
    assert created["revoked_at"] is None
    assert secret.startswith(created["prefix"])

    app = tenant.key_client(secret)
    assert app.get("/v1/users").status_code == 200

    listing = tenant.client.get("/v1/api-keys")
    assert listing.status_code == 200
    assert secret not in listing.text
    keys = listing.json()["data"]
    assert all("key" not in k for k in keys)
    listed = next(k for k in keys if k["id"] == created["id"])
    assert listed == {k: v for k, v in created.items() if k not in ("key", "last_used_at")} | {
        "last_used_at": listed["last_used_at"]
    }
    assert listed["last_used_at"] is not None  # it was just used


def test_role_defaults_and_scope_rules(tenant: Tenant) -> None:
    member = tenant.client.post("/v1/api-keys", json={"name": "m", "role": "member"}).json()
    assert "bookings:write" in member["scopes"]
    assert "keys:manage" not in member["scopes"]
    support = tenant.client.post("/v1/api-keys", json={"name": "s", "role": "support"}).json()
    assert support["scopes"]
    assert all(s.endswith(":read") for s in support["scopes"])

    # An app key must ask for scopes.
    for body in ({"name": "a", "role": "app"}, {"name": "a", "role": "app", "scopes": []}, {"name": "a"}):
        problem = assert_problem(tenant.client.post("/v1/api-keys", json=body), 422, "validation_failed")
        assert error_fields(problem) == ["scopes"]
    # A role cannot hold scopes above it, and scopes must exist.
    problem = assert_problem(
        tenant.client.post("/v1/api-keys", json={"name": "s", "role": "support", "scopes": ["bookings:write"]}),
        422,
        "validation_failed",
    )
    assert error_fields(problem) == ["scopes"]
    problem = assert_problem(
        tenant.client.post("/v1/api-keys", json={"name": "s", "role": "app", "scopes": ["bookings:destroy"]}),
        422,
        "validation_failed",
    )
    assert error_fields(problem)[0].startswith("scopes")
    problem = assert_problem(
        tenant.client.post("/v1/api-keys", json={"name": "r", "role": "root", "scopes": ["bookings:read"]}),
        422,
        "validation_failed",
    )
    assert error_fields(problem) == ["role"]
    problem = assert_problem(tenant.client.post("/v1/api-keys", json={"role": "member"}), 422, "validation_failed")
    assert error_fields(problem) == ["name"]


def test_a_key_cannot_grant_scopes_beyond_its_own(tenant: Tenant) -> None:
    limited_secret = tenant.create_key("owner", ["keys:manage", "bookings:read"])
    limited = tenant.key_client(limited_secret)

    ok = limited.post("/v1/api-keys", json={"name": "reader", "role": "app", "scopes": ["bookings:read"]})
    assert ok.status_code == 201, ok.text
    for body in (
        {"name": "writer", "role": "app", "scopes": ["bookings:write"]},
        {"name": "both", "role": "app", "scopes": ["bookings:read", "users:read"]},
        {"name": "default owner", "role": "owner"},  # the default owner scopes exceed its own
        {"name": "default member", "role": "member"},
    ):
        assert_problem(limited.post("/v1/api-keys", json=body), 403, "insufficient_scope")
    names = [k["name"] for k in list_all(tenant.client, "/v1/api-keys")]
    assert "reader" in names
    assert not {"writer", "both", "default owner", "default member"} & set(names)


def test_member_cannot_manage_keys(tenant: Tenant) -> None:
    member = tenant.key_client(tenant.create_key("member"))
    assert_problem(
        member.post("/v1/api-keys", json={"name": "x", "role": "app", "scopes": ["bookings:read"]}),
        403,
        "insufficient_scope",
    )
    assert_problem(member.get("/v1/api-keys"), 403, "insufficient_scope")
    owner_key_id = key_id_of(tenant.db, tenant.key)
    assert_problem(member.post(f"/v1/api-keys/{owner_key_id}/revoke"), 403, "insufficient_scope")
    assert tenant.client.get("/v1/users").status_code == 200


def test_revoke_twice_is_unchanged_and_unknown_keys_are_not_found(tenant: Tenant) -> None:
    created = tenant.client.post("/v1/api-keys", json={"name": "temp", "role": "app", "scopes": ["users:read"]}).json()
    first = tenant.client.post(f"/v1/api-keys/{created['id']}/revoke")
    assert first.status_code == 200, first.text
    revoked = first.json()
    assert revoked["id"] == created["id"]
    assert revoked["revoked_at"] is not None
    assert "key" not in revoked
    again = tenant.client.post(f"/v1/api-keys/{created['id']}/revoke")
    assert again.status_code == 200
    assert again.json() == revoked
    listed = next(k for k in list_all(tenant.client, "/v1/api-keys") if k["id"] == created["id"])
    assert listed["revoked_at"] == revoked["revoked_at"]
    for key_id in ("key_01jd3w9k6v0m3y0q6d2x9t7h1e", "nope", "usr_01jd3w9k6v0m3y0q6d2x9t7h1e"):
        assert_problem(tenant.client.post(f"/v1/api-keys/{key_id}/revoke"), 404, "not_found")


def test_audit_events_record_key_creation_and_revocation_with_the_actor(tenant: Tenant) -> None:
    owner_key_id = key_id_of(tenant.db, tenant.key)
    created = tenant.client.post(
        "/v1/api-keys",
        json={"name": "audited", "role": "app", "scopes": ["bookings:read"]},
        headers={"X-Request-ID": "audit-create-1"},
    ).json()
    tenant.client.post(f"/v1/api-keys/{created['id']}/revoke", headers={"X-Request-ID": "audit-revoke-1"})
    tenant.client.post(f"/v1/api-keys/{created['id']}/revoke")  # a no-op: no second event

    response = tenant.client.get("/v1/audit-events")
    assert response.status_code == 200
    events = response.json()["data"]
    about = [e for e in events if e["target_id"] == created["id"]]
    assert [e["action"] for e in about] == ["api_key.revoked", "api_key.created"]  # newest first
    revoked_event, created_event = about
    for event in about:
        assert event["object"] == "audit_event"
        assert event["actor_key_id"] == owner_key_id
        assert event["target_type"] == "api_key"
    assert created_event["data"]["scopes"] == ["bookings:read"]
    assert created_event["request_id"] == "audit-create-1"
    assert revoked_event["request_id"] == "audit-revoke-1"
    assert "key" not in created_event["data"]
    assert created["key"] not in response.text

    # Who did it: a revocation by another owner key names that key.
    second_secret = tenant.create_key("owner")
    second_id = key_id_of(tenant.db, second_secret)
    target = tenant.client.post("/v1/api-keys", json={"name": "t", "role": "app", "scopes": ["users:read"]}).json()
    assert tenant.key_client(second_secret).post(f"/v1/api-keys/{target['id']}/revoke").status_code == 200
    actors = {
        e["action"]: e["actor_key_id"]
        for e in list_all(tenant.client, "/v1/audit-events")
        if e["target_id"] == target["id"]
    }
    assert actors == {"api_key.created": owner_key_id, "api_key.revoked": second_id}

    # The bootstrap key's own creation is there too, with no acting key.
    assert any(
        e["action"] == "api_key.created" and e["target_id"] == owner_key_id and e["actor_key_id"] is None
        for e in list_all(tenant.client, "/v1/audit-events")
    )


def test_audit_events_paginate_newest_first(tenant: Tenant) -> None:
    for i in range(5):
        tenant.client.post("/v1/api-keys", json={"name": f"k{i}", "role": "app", "scopes": ["users:read"]})
    events = list_all(tenant.client, "/v1/audit-events", limit=2)
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)) == 6  # five keys and the bootstrap key
    assert ids == sorted(ids, reverse=True)
    assert [e["data"]["name"] for e in events[:5]] == ["k4", "k3", "k2", "k1", "k0"]


def test_audit_events_need_audit_read(tenant: Tenant) -> None:
    member = tenant.key_client(tenant.create_key("member"))
    assert_problem(member.get("/v1/audit-events"), 403, "insufficient_scope")


# --- tenant isolation -------------------------------------------------------------------------


def test_another_organizations_objects_are_not_found(tenant: Tenant, other_tenant: Tenant) -> None:
    theirs_user = other_tenant.create_user()
    theirs_booking = create_booking(
        other_tenant.client, booking(theirs_user["id"], f"{MONDAY}T09:00:00", duration_minutes=30)
    )
    theirs_key = other_tenant.client.post(
        "/v1/api-keys", json={"name": "theirs", "role": "app", "scopes": ["users:read"]}
    ).json()
    mine = tenant.create_user()

    me = tenant.client
    assert_problem(me.get(f"/v1/users/{theirs_user['id']}"), 404, "not_found")
    assert_problem(me.patch(f"/v1/users/{theirs_user['id']}", json={"name": "Hijacked"}), 404, "not_found")
    assert_problem(me.get(f"/v1/bookings/{theirs_booking['id']}"), 404, "not_found")
    assert_problem(me.post(f"/v1/bookings/{theirs_booking['id']}/cancel", json={}), 404, "not_found")
    assert_problem(me.post(f"/v1/api-keys/{theirs_key['id']}/revoke"), 404, "not_found")
    assert_problem(
        me.get(
            "/v1/availability",
            params={
                "user_id": theirs_user["id"],
                "start": "2030-12-02T00:00:00Z",
                "end": "2030-12-03T00:00:00Z",
                "duration_minutes": 30,
            },
        ),
        404,
        "not_found",
    )
    assert_problem(
        me.post("/v1/bookings", json=booking(theirs_user["id"], f"{MONDAY}T10:00:00", duration_minutes=30)),
        404,
        "not_found",
    )

    # Their objects are untouched ...
    assert other_tenant.client.get(f"/v1/users/{theirs_user['id']}").json()["name"] == theirs_user["name"]
    assert other_tenant.client.get(f"/v1/bookings/{theirs_booking['id']}").json()["status"] == "confirmed"
    assert other_tenant.key_client(theirs_key["key"]).get("/v1/users").status_code == 200
    # ... and never listed for me.
    listed: dict[str, list[dict[str, Any]]] = {
        path: list_all(me, path) for path in ("/v1/users", "/v1/bookings", "/v1/api-keys", "/v1/audit-events")
    }
    assert [u["id"] for u in listed["/v1/users"]] == [mine["id"]]
    assert listed["/v1/bookings"] == []
    assert theirs_key["id"] not in {k["id"] for k in listed["/v1/api-keys"]}
    assert {e["target_id"] for e in listed["/v1/audit-events"]} == {k["id"] for k in listed["/v1/api-keys"]}
    assert list_all(me, "/v1/bookings", host_id=theirs_user["id"]) == []


def test_a_key_accepted_in_the_last_second_is_checked_and_counted_without_database_work(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first request of a key looks it up through ``Database.run`` (on PostgreSQL a hand-off
    to a thread); the next ones, within a second, come from the process's cache and are
    checked and counted against the limit on the event loop, with no hand-off of their own."""
    _, secret = bootstrap_key(db, f"org-{uuid.uuid4().hex[:12]}", role="owner")
    ran: list[str] = []
    run = db.run

    async def recording(fn: Any, *args: Any, **kwargs: Any) -> Any:
        ran.append(fn.__name__)
        return await run(fn, *args, **kwargs)

    monkeypatch.setattr(db, "run", recording)
    app = create_app(settings, database=db)
    app.state.principals = PrincipalCache(ttl=60)  # the requests need not come within a second
    with TestClient(app) as client:
        answers = [client.get("/v1/bookings", headers=Tenant.auth(secret)) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200] * 3
    assert ran == ["_authenticate_and_count", "list_bookings", "list_bookings", "list_bookings"]
    remaining = [int(answer.headers["ratelimit-remaining"]) for answer in answers]
    assert remaining[0] - remaining[1] == remaining[1] - remaining[2] == 1  # every request counted
