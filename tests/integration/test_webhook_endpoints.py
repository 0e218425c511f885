"""``/v1/webhook-endpoints`` and ``/v1/webhook-deliveries`` over HTTP: create (secret shown
once, idempotent), read, list, delete, enable, deliveries with their attempts, scopes,
tenancy, and the refusal of private URLs."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from hub.app import create_app
from hub.crypto import DecryptionError, keyring_for
from hub.db import Database
from hub.db.tables import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from hub.ids import new_id
from hub.settings import Settings
from tests.integration.helpers import assert_problem, error_fields, list_all
from tests.support.servers import LiveServer
from tests.support.tenants import Tenant

UTC_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
URL = "https://hooks.example.com/hub?team=7"  # allowed as is: the test server allows any address
EVENTS = ["booking.created", "booking.cancelled", "connection.reauth_required", "connection.synced"]


def create(tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = tenant.client.post("/v1/webhook-endpoints", json={"url": URL, "events": ["booking.created"], **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def add_delivery(
    db: Database, endpoint_id: str, organization_id: str, created_at: datetime, attempts: list[dict[str, Any]]
) -> str:
    """A delivery row with attempts, as the delivery job records them."""
    delivery_id = new_id("webhook_delivery")
    with db.write() as session:
        session.add(
            WebhookDelivery(
                id=delivery_id,
                organization_id=organization_id,
                endpoint_id=endpoint_id,
                outbox_id=None,
                event_type="booking.created",
                body=b"{}",
                status="pending",
                attempt_count=len(attempts),
                next_attempt_at=None,
                last_status_code=None,
                last_error=None,
                context={},
                created_at=created_at,
                delivered_at=None,
            )
        )
        session.flush()
        for number, attempt in enumerate(attempts, start=1):
            session.add(
                WebhookAttempt(delivery_id=delivery_id, attempt_number=number, attempted_at=created_at, **attempt)
            )
    return delivery_id


# --- create, read, list ------------------------------------------------------------------


def test_create_shows_the_secret_once_and_stores_it_encrypted(tenant: Tenant, settings: Settings, db: Database) -> None:
    response = tenant.client.post(
        "/v1/webhook-endpoints", json={"url": URL, "events": EVENTS, "description": "Ops", "colour": "blue"}
    )

    assert response.status_code == 201, response.text
    endpoint = response.json()
    assert re.fullmatch(r"whe_[0-9a-z]{26}", endpoint["id"])
    assert endpoint["object"] == "webhook_endpoint"
    assert endpoint["url"] == URL
    assert endpoint["description"] == "Ops"
    assert sorted(endpoint["events"]) == sorted(EVENTS)
    assert endpoint["status"] == "enabled"
    assert endpoint["disabled_reason"] is None
    assert endpoint["deleted_at"] is None
    assert UTC_Z.match(endpoint["created_at"])
    assert "colour" not in endpoint
    secret = endpoint["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32

    fetched = tenant.client.get(f"/v1/webhook-endpoints/{endpoint['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == {k: v for k, v in endpoint.items() if k != "secret"}
    listed = list_all(tenant.client, "/v1/webhook-endpoints")
    assert [e["id"] for e in listed] == [endpoint["id"]]
    assert "secret" not in listed[0]
    assert secret not in fetched.text

    with db.read() as session:
        row = session.get(WebhookEndpoint, endpoint["id"])
    assert row is not None
    assert secret.encode() not in row.secret_ciphertext
    keyring = keyring_for(settings)
    assert keyring.decrypt(row.secret_ciphertext, endpoint["id"]).decode() == secret
    with pytest.raises(DecryptionError):
        keyring.decrypt(row.secret_ciphertext, new_id("webhook_endpoint"))  # bound to its own row


def test_each_endpoint_gets_its_own_secret(tenant: Tenant) -> None:
    assert create(tenant)["secret"] != create(tenant)["secret"]


def test_duplicate_event_types_are_stored_once(tenant: Tenant) -> None:
    endpoint = create(tenant, events=["booking.created", "booking.created", "connection.synced"])
    assert sorted(endpoint["events"]) == ["booking.created", "connection.synced"]


def test_create_is_idempotent(tenant: Tenant) -> None:
    headers = {"Idempotency-Key": "endpoint-create-1"}
    body = {"url": URL, "events": ["booking.created"]}
    first = tenant.client.post("/v1/webhook-endpoints", json=body, headers=headers)
    again = tenant.client.post("/v1/webhook-endpoints", json=body, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert len(list_all(tenant.client, "/v1/webhook-endpoints")) == 1
    other = tenant.client.post("/v1/webhook-endpoints", json={**body, "events": ["booking.cancelled"]}, headers=headers)
    assert_problem(other, 422, "idempotency_key_reused")


def test_list_is_paginated(tenant: Tenant) -> None:
    ids = [create(tenant)["id"] for _ in range(3)]
    page = tenant.client.get("/v1/webhook-endpoints", params={"limit": 2}).json()
    assert page["object"] == "list"
    assert [e["id"] for e in page["data"]] == ids[:2]
    assert page["next_cursor"]
    rest = tenant.client.get("/v1/webhook-endpoints", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [e["id"] for e in rest["data"]] == ids[2:]
    assert rest["next_cursor"] is None
    assert_problem(tenant.client.get("/v1/webhook-endpoints", params={"cursor": "nope"}), 422, "validation_failed")


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": URL, "events": []}, "events"),
        ({"url": URL, "events": ["booking.exploded"]}, "events"),
        ({"url": URL}, "events"),
        ({"events": ["booking.created"]}, "url"),
        ({"url": "ftp://hooks.example.com/hub", "events": ["booking.created"]}, "url"),
        ({"url": "hooks.example.com/hub", "events": ["booking.created"]}, "url"),
        ({"url": "https://user:pw@hooks.example.com/", "events": ["booking.created"]}, "url"),
        ({"url": URL, "events": ["booking.created"], "description": "x" * 501}, "description"),
    ],
)
def test_invalid_bodies_name_the_field(tenant: Tenant, body: dict[str, Any], field: str) -> None:
    problem = assert_problem(tenant.client.post("/v1/webhook-endpoints", json=body), 422, "validation_failed")
    assert any(f == field or f.startswith(f"{field}[") for f in error_fields(problem)), problem


# --- delete and enable -------------------------------------------------------------------------


def test_delete_is_soft_and_answers_the_endpoint(tenant: Tenant, db: Database) -> None:
    endpoint = create(tenant)
    kept = create(tenant)

    response = tenant.client.delete(f"/v1/webhook-endpoints/{endpoint['id']}")

    assert response.status_code == 200, response.text
    assert response.json()["id"] == endpoint["id"]
    assert UTC_Z.match(response.json()["deleted_at"])
    assert "secret" not in response.json()
    assert_problem(tenant.client.get(f"/v1/webhook-endpoints/{endpoint['id']}"), 404, "not_found")
    assert_problem(tenant.client.delete(f"/v1/webhook-endpoints/{endpoint['id']}"), 404, "not_found")
    assert_problem(tenant.client.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"), 404, "not_found")
    assert [e["id"] for e in list_all(tenant.client, "/v1/webhook-endpoints")] == [kept["id"]]
    with db.read() as session:
        row = session.get(WebhookEndpoint, endpoint["id"])
        assert row is not None
        assert row.deleted_at is not None


def test_enable_turns_a_disabled_endpoint_back_on(tenant: Tenant, db: Database) -> None:
    endpoint = create(tenant)
    assert tenant.client.post(f"/v1/webhook-endpoints/{endpoint['id']}/enable").json()["status"] == "enabled"
    with db.write() as session:
        row = session.get(WebhookEndpoint, endpoint["id"])
        assert row is not None
        row.status, row.disabled_reason = "disabled", "The endpoint answered 410 Gone."
        row.disabled_at = row.failing_since = datetime.now(UTC)
    assert tenant.client.get(f"/v1/webhook-endpoints/{endpoint['id']}").json()["status"] == "disabled"

    response = tenant.client.post(f"/v1/webhook-endpoints/{endpoint['id']}/enable")

    assert response.status_code == 200, response.text
    shown = response.json()
    assert (shown["status"], shown["disabled_reason"], shown["disabled_at"], shown["failing_since"]) == (
        "enabled",
        None,
        None,
        None,
    )


# --- deliveries ----------------------------------------------------------------------------------


def test_deliveries_are_listed_newest_first_with_their_attempts(tenant: Tenant, db: Database) -> None:
    endpoint = create(tenant)
    base = datetime.now(UTC) - timedelta(hours=1)
    retry_at = base + timedelta(seconds=5)
    older = add_delivery(
        db,
        endpoint["id"],
        tenant.organization_id,
        base,
        [
            {
                "status_code": 500,
                "latency_ms": 31,
                "response_snippet": "oops",
                "error": "http_500: boom",
                "next_attempt_at": retry_at,
            },
            {
                "status_code": None,
                "latency_ms": 15000,
                "response_snippet": None,
                "error": "timeout: no answer",
                "next_attempt_at": None,
            },
        ],
    )
    middle = add_delivery(db, endpoint["id"], tenant.organization_id, base, [])
    newest = add_delivery(db, endpoint["id"], tenant.organization_id, base, [])

    page = tenant.client.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", params={"limit": 2}).json()
    assert [d["id"] for d in page["data"]] == [newest, middle]
    rest = tenant.client.get(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", params={"limit": 2, "cursor": page["next_cursor"]}
    ).json()
    assert [d["id"] for d in rest["data"]] == [older]
    assert rest["next_cursor"] is None
    delivery = rest["data"][0]
    assert delivery["object"] == "webhook_delivery"
    assert delivery["endpoint_id"] == endpoint["id"]
    assert delivery["event_type"] == "booking.created"
    first, second = delivery["attempts"]
    assert first == {
        "attempt_number": 1,
        "attempted_at": first["attempted_at"],
        "status_code": 500,
        "latency_ms": 31,
        "response_snippet": "oops",
        "error": "http_500: boom",
        "next_attempt_at": msgspec.json.decode(msgspec.json.encode(retry_at)),
        "object": "webhook_attempt",
    }
    assert (second["attempt_number"], second["status_code"], second["error"]) == (2, None, "timeout: no answer")
    assert tenant.client.get(f"/v1/webhook-deliveries/{older}").json() == delivery


# --- scopes and tenancy ------------------------------------------------------------------------


def test_scopes_are_enforced(tenant: Tenant) -> None:
    endpoint = create(tenant)
    reader = tenant.key_client(tenant.create_key("app", ["webhooks:read"]))
    assert reader.get("/v1/webhook-endpoints").status_code == 200
    assert reader.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries").status_code == 200
    for response in (
        reader.post("/v1/webhook-endpoints", json={"url": URL, "events": ["booking.created"]}),
        reader.delete(f"/v1/webhook-endpoints/{endpoint['id']}"),
        reader.post(f"/v1/webhook-endpoints/{endpoint['id']}/enable"),
        reader.post(f"/v1/webhook-deliveries/{new_id('webhook_delivery')}/retry"),
    ):
        assert assert_problem(response, 403, "insufficient_scope")["required_scope"] == "webhooks:write"
    outsider = tenant.key_client(tenant.create_key("app", ["bookings:read"]))
    assert_problem(outsider.get("/v1/webhook-endpoints"), 403, "insufficient_scope")


def test_another_organizations_ids_are_not_found(tenant: Tenant, other_tenant: Tenant, db: Database) -> None:
    endpoint = create(tenant)
    delivery_id = add_delivery(db, endpoint["id"], tenant.organization_id, datetime.now(UTC), [])
    client = other_tenant.client
    for response in (
        client.get(f"/v1/webhook-endpoints/{endpoint['id']}"),
        client.delete(f"/v1/webhook-endpoints/{endpoint['id']}"),
        client.post(f"/v1/webhook-endpoints/{endpoint['id']}/enable"),
        client.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"),
        client.get(f"/v1/webhook-deliveries/{delivery_id}"),
        client.post(f"/v1/webhook-deliveries/{delivery_id}/retry"),
    ):
        assert_problem(response, 404, "not_found")
    assert list_all(client, "/v1/webhook-endpoints") == []
    assert tenant.client.get(f"/v1/webhook-endpoints/{endpoint['id']}").status_code == 200  # untouched


@pytest.mark.parametrize(
    "path", ["/v1/webhook-endpoints/whe_nope", "/v1/webhook-endpoints/usr_01jd3w9k6v0m3y0q6d2x9t7h1e"]
)
def test_malformed_ids_are_not_found(tenant: Tenant, path: str) -> None:
    assert_problem(tenant.client.get(path), 404, "not_found")
    assert_problem(tenant.client.post("/v1/webhook-deliveries/whd_nope/retry"), 404, "not_found")


# --- private URLs ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def strict_server(settings: Settings, db: Database) -> Iterator[LiveServer]:
    """Hub as operators run it: webhooks to private addresses refused."""
    strict = msgspec.structs.replace(settings, webhooks_allow_private=False)
    with LiveServer(create_app(strict, database=db)) as server:
        yield server


@pytest.fixture
def strict_tenant(strict_server: LiveServer, db: Database) -> Iterator[Tenant]:
    t = Tenant(strict_server.url, db)
    yield t
    t.client.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "https://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:192.168.0.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_private_urls_are_refused_at_creation(strict_tenant: Tenant, url: str) -> None:
    response = strict_tenant.client.post("/v1/webhook-endpoints", json={"url": url, "events": ["booking.created"]})
    problem = assert_problem(response, 422, "webhook_url_not_allowed")
    assert error_fields(problem) == ["url"]
    assert list_all(strict_tenant.client, "/v1/webhook-endpoints") == []


def test_public_urls_are_accepted_by_the_strict_server(strict_tenant: Tenant) -> None:
    response = strict_tenant.client.post(
        "/v1/webhook-endpoints", json={"url": "https://8.8.8.8/hook", "events": ["connection.synced"]}
    )
    assert response.status_code == 201, response.text
