"""``Idempotency-Key`` on creating POSTs, as a client retrying requests sees it."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from hub.auth.principal import Principal
from hub.crypto import DecryptionError, Keyring
from hub.db.tables import Booking, IdempotencyKey
from hub.idempotency import LOCK_SPACE, Finish, associated_data, fingerprint, run
from tests.integration.helpers import MONDAY, assert_problem, booking, create_booking, error_fields, key_id_of
from tests.support.tenants import Tenant


def _post(tenant: Tenant, body: dict[str, Any], key: str, client: Any = None) -> Any:
    return (client or tenant.client).post("/v1/bookings", json=body, headers={"Idempotency-Key": key})


def _bookings_of(tenant: Tenant, host_id: str) -> int:
    with tenant.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Booking).where(Booking.host_id == host_id)) or 0)


def test_replay_returns_the_stored_answer(tenant: Tenant) -> None:
    host = tenant.create_user()
    body = booking(host["id"], f"{MONDAY}T09:00:00", duration_minutes=30)

    first = _post(tenant, body, "create-1")
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers

    again = _post(tenant, body, "create-1")
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert again.headers["content-type"].startswith("application/json")
    assert _bookings_of(tenant, host["id"]) == 1

    # The same JSON with keys in another order and other spacing is the same request.
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2)
    third = tenant.client.post(
        "/v1/bookings",
        content=reordered,
        headers={"Idempotency-Key": "create-1", "Content-Type": "application/json"},
    )
    assert third.status_code == 201
    assert third.headers["idempotent-replayed"] == "true"
    assert third.content == first.content


def test_a_stored_conflict_is_replayed_even_after_the_slot_is_free(tenant: Tenant) -> None:
    host = tenant.create_user()
    body = booking(host["id"], f"{MONDAY}T10:00:00", duration_minutes=30)
    taken = create_booking(tenant.client, body)

    first = _post(tenant, body, "conflict-1")
    problem = assert_problem(first, 409, "booking_conflict")
    assert tenant.client.post(f"/v1/bookings/{taken['id']}/cancel", json={}).status_code == 200

    again = _post(tenant, body, "conflict-1")
    replayed = assert_problem(again, 409, "booking_conflict", replayed=True)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert replayed == problem
    # A new key books the now free slot.
    assert _post(tenant, body, "conflict-2").status_code == 201


def test_a_stored_validation_answer_is_replayed(tenant: Tenant) -> None:
    host = tenant.create_user()
    body = booking(host["id"], "2030-03-31T02:30:00", duration_minutes=30, ignore_availability=True)
    first = _post(tenant, body, "dst-1")
    assert_problem(first, 422, "nonexistent_local_time")
    again = _post(tenant, body, "dst-1")
    assert_problem(again, 422, "nonexistent_local_time", replayed=True)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content


def test_same_key_with_another_body_is_refused(tenant: Tenant) -> None:
    host = tenant.create_user()
    first = _post(tenant, booking(host["id"], f"{MONDAY}T11:00:00", duration_minutes=30), "reuse-1")
    assert first.status_code == 201
    other = _post(tenant, booking(host["id"], f"{MONDAY}T12:00:00", duration_minutes=30), "reuse-1")
    assert_problem(other, 422, "idempotency_key_reused")
    assert "idempotent-replayed" not in other.headers
    # Another path with the same key is another request too.
    user = tenant.client.post(
        "/v1/users",
        json={"name": "X", "email": "x@example.com", "timezone": "UTC"},
        headers={"Idempotency-Key": "reuse-1"},
    )
    assert_problem(user, 422, "idempotency_key_reused")
    assert _bookings_of(tenant, host["id"]) == 1


def test_in_flight_key_answers_409(tenant: Tenant) -> None:
    host = tenant.create_user()
    body = booking(host["id"], f"{MONDAY}T13:00:00", duration_minutes=30)
    now = datetime.now(UTC)
    with tenant.db.write() as session:
        session.add(
            IdempotencyKey(
                api_key_id=key_id_of(tenant.db, tenant.key),
                key="busy-1",
                fingerprint=fingerprint("POST", "/v1/bookings", json.dumps(body).encode()),
                state="in_flight",
                created_at=now,
                locked_at=now,
                expires_at=now + timedelta(hours=24),
            )
        )
    response = _post(tenant, body, "busy-1")
    assert_problem(response, 409, "idempotency_key_in_use")
    assert "retry-after" in response.headers
    assert _bookings_of(tenant, host["id"]) == 0
    # A different body with the in-flight key is still a reused key.
    assert_problem(_post(tenant, {**body, "title": "other"}, "busy-1"), 422, "idempotency_key_reused")


def test_a_key_held_by_a_running_request_answers_409_on_postgresql(tenant: Tenant) -> None:
    """On PostgreSQL a running request holds its key's advisory lock until it commits; another
    request with the key meanwhile is refused at once. (On SQLite the running request holds the
    write lock, so the other one waits and is answered with the replay.)"""
    if tenant.db.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite serialises every write transaction")
    host = tenant.create_user()
    body = booking(host["id"], f"{MONDAY}T13:30:00", duration_minutes=30)
    name = associated_data(key_id_of(tenant.db, tenant.key), "running-1")
    with tenant.db.write() as session:  # what a request with this key holds while it runs
        session.execute(
            text("SELECT pg_advisory_xact_lock(:space, hashtext(:name))"), {"space": LOCK_SPACE, "name": name}
        )
        response = _post(tenant, body, "running-1")
        assert_problem(response, 409, "idempotency_key_in_use")
        assert response.headers["retry-after"] == "1"
    assert _bookings_of(tenant, host["id"]) == 0
    created = _post(tenant, body, "running-1")  # the refusal was not stored: the key is free
    assert created.status_code == 201, created.text
    assert _post(tenant, body, "running-1").headers["idempotent-replayed"] == "true"


def test_an_abandoned_claim_is_taken_over(tenant: Tenant) -> None:
    host = tenant.create_user()
    body = booking(host["id"], f"{MONDAY}T14:00:00", duration_minutes=30)
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    with tenant.db.write() as session:
        session.add(
            IdempotencyKey(
                api_key_id=key_id_of(tenant.db, tenant.key),
                key="dead-1",
                fingerprint=fingerprint("POST", "/v1/bookings", json.dumps(body).encode()),
                state="in_flight",
                created_at=long_ago,
                locked_at=long_ago,
                expires_at=long_ago + timedelta(hours=24),
            )
        )
    first = _post(tenant, body, "dead-1")
    assert first.status_code == 201, first.text
    again = _post(tenant, body, "dead-1")
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.content == first.content
    assert _bookings_of(tenant, host["id"]) == 1


def test_an_expired_key_can_be_used_again(tenant: Tenant) -> None:
    host = tenant.create_user()
    body = booking(host["id"], f"{MONDAY}T15:00:00", duration_minutes=30)
    long_ago = datetime.now(UTC) - timedelta(days=3)
    with tenant.db.write() as session:
        session.add(
            IdempotencyKey(
                api_key_id=key_id_of(tenant.db, tenant.key),
                key="old-1",
                fingerprint="0" * 64,
                state="done",
                response_status=201,
                response_body=b"{}",
                created_at=long_ago,
                locked_at=long_ago,
                expires_at=long_ago + timedelta(hours=24),
            )
        )
    first = _post(tenant, body, "old-1")
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert first.json()["host_id"] == host["id"]
    again = _post(tenant, body, "old-1")
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.content == first.content


def test_keys_are_scoped_to_the_api_key(tenant: Tenant) -> None:
    host = tenant.create_user()
    other = tenant.key_client(tenant.create_key("app", ["bookings:write", "bookings:read"]))
    mine = _post(tenant, booking(host["id"], f"{MONDAY}T09:00:00", duration_minutes=30), "shared")
    theirs = _post(tenant, booking(host["id"], f"{MONDAY}T10:00:00", duration_minutes=30), "shared", client=other)
    assert mine.status_code == 201, mine.text
    assert theirs.status_code == 201, theirs.text
    assert "idempotent-replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]
    # The same body under the same key string from the other API key is processed anew (a conflict
    # with the first booking), not replayed from the first key's answer.
    same = _post(tenant, booking(host["id"], f"{MONDAY}T11:00:00", duration_minutes=30), "shared-2")
    assert same.status_code == 201
    replay_elsewhere = _post(
        tenant, booking(host["id"], f"{MONDAY}T11:00:00", duration_minutes=30), "shared-2", client=other
    )
    assert "idempotent-replayed" not in replay_elsewhere.headers
    assert_problem(replay_elsewhere, 409, "booking_conflict")
    assert _bookings_of(tenant, host["id"]) == 3


def test_invalid_idempotency_keys_are_refused(tenant: Tenant) -> None:
    host = tenant.create_user()
    body = booking(host["id"], f"{MONDAY}T16:00:00", duration_minutes=30)
    for key in ("x" * 256, "tab\tinside"):
        problem = assert_problem(_post(tenant, body, key), 422, "validation_failed")
        assert error_fields(problem) == ["Idempotency-Key"]
    assert _bookings_of(tenant, host["id"]) == 0
    assert _post(tenant, body, "k" * 255).status_code == 201


def test_user_and_api_key_creation_are_idempotent(tenant: Tenant) -> None:
    profile = {"name": "Idem", "email": "idem@example.com", "timezone": "UTC"}
    first = tenant.client.post("/v1/users", json=profile, headers={"Idempotency-Key": "user-1"})
    again = tenant.client.post("/v1/users", json=profile, headers={"Idempotency-Key": "user-1"})
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    users = tenant.client.get("/v1/users").json()["data"]
    assert [u["id"] for u in users] == [first.json()["id"]]

    request = {"name": "ci", "role": "app", "scopes": ["bookings:read"]}
    key_first = tenant.client.post("/v1/api-keys", json=request, headers={"Idempotency-Key": "key-1"})
    key_again = tenant.client.post("/v1/api-keys", json=request, headers={"Idempotency-Key": "key-1"})
    assert key_first.status_code == key_again.status_code == 201
    assert key_again.headers["idempotent-replayed"] == "true"
    assert key_again.json()["id"] == key_first.json()["id"]
    names = [k["name"] for k in tenant.client.get("/v1/api-keys").json()["data"]]
    assert names.count("ci") == 1


def test_concurrent_retries_with_one_key_create_one_booking(tenant: Tenant) -> None:
    host = tenant.create_user()
    body = booking(host["id"], f"{MONDAY}T16:30:00", duration_minutes=30)
    workers = 12
    barrier = threading.Barrier(workers)

    def attempt(_: int) -> Any:
        with tenant.key_client(tenant.key) as client:
            barrier.wait(timeout=30)
            return _post(tenant, body, "race-1", client=client)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        responses = list(pool.map(attempt, range(workers)))

    fresh = [r for r in responses if r.status_code == 201 and "idempotent-replayed" not in r.headers]
    assert len(fresh) == 1, [(r.status_code, r.text) for r in responses]
    for response in responses:
        if response.status_code == 201:
            assert response.content == fresh[0].content
        else:
            assert_problem(response, 409, "idempotency_key_in_use")
    assert _bookings_of(tenant, host["id"]) == 1
    final = _post(tenant, body, "race-1")
    assert final.headers["idempotent-replayed"] == "true"
    assert final.content == fresh[0].content


def test_stored_answers_are_encrypted_with_the_keyring_the_app_was_given(tenant: Tenant) -> None:
    """The answer to a key creation holds the new secret: it is stored only as a ciphertext of
    the app's keyring (HUB_SECRET_KEYS), bound to its row."""
    created = tenant.client.post(
        "/v1/api-keys", json={"name": "ci", "role": "support"}, headers={"Idempotency-Key": "sealed-1"}
    )
    assert created.status_code == 201, created.text
    secret = created.json()["key"]
    api_key_id = key_id_of(tenant.db, tenant.key)
    with tenant.db.read() as session:
        stored = session.scalar(
            select(IdempotencyKey.response_body).where(
                IdempotencyKey.api_key_id == api_key_id, IdempotencyKey.key == "sealed-1"
            )
        )
    assert stored is not None
    assert secret.encode() not in stored
    keyring = Keyring(["test-secret-key-0123456789abcdef"])  # the test settings' HUB_SECRET_KEYS
    assert keyring.decrypt(stored, associated_data(api_key_id, "sealed-1")) == created.content
    replay = tenant.client.post(
        "/v1/api-keys", json={"name": "ci", "role": "support"}, headers={"Idempotency-Key": "sealed-1"}
    )
    assert replay.content == created.content


def test_run_seals_with_the_keyring_it_is_passed(tenant: Tenant) -> None:
    """There is no configure-once global: ``run`` takes the keyring, and nothing else can open
    what it stored."""
    principal = Principal(
        key_id=key_id_of(tenant.db, tenant.key),
        organization_id=tenant.organization_id,
        role="owner",
        scopes=frozenset(),
    )
    mine, other = Keyring(["a-key-only-this-test-knows-000000"]), Keyring(["another-key-1111111111111111111"])

    def operation(finish: Finish) -> None:
        with finish.write(tenant.db) as session:
            finish(session, 201, {"ok": True})

    first = run(tenant.db, mine, principal, "direct-1", "f" * 64, None, operation)
    assert first.status_code == 201
    replay = run(tenant.db, mine, principal, "direct-1", "f" * 64, None, operation)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.content == first.content
    with pytest.raises(DecryptionError):
        run(tenant.db, other, principal, "direct-1", "f" * 64, None, operation)
