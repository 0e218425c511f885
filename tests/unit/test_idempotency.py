"""``hub.idempotency`` against a real SQLite database of its own: the request fingerprint, the
claim, replays of stored answers (encrypted at rest), a key reused for another request, a key
still in use, a claim left by a process that died, and expiry."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Response
from sqlalchemy import func, select, update

from hub import idempotency
from hub.auth.principal import Principal
from hub.clock import utcnow
from hub.crypto import DecryptionError, Keyring
from hub.db import Database, upgrade
from hub.db.tables import IdempotencyKey
from hub.errors import PROBLEM_MEDIA_TYPE, Conflict, FieldError, ServiceUnavailable
from hub.idempotency import Finish, fingerprint, purge_expired, run, validate_key

KEYRING = Keyring(["idempotency-unit-test-secret-0123456789"])


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A migrated SQLite file for this module alone (expiry tests purge across the table)."""
    path: Path = tmp_path_factory.mktemp("idempotency") / "hub.db"
    database = Database(f"sqlite:///{path}")
    upgrade(database)
    yield database
    database.dispose()


def new_principal() -> Principal:
    key_id = f"key_{uuid.uuid4().hex[:12]}"
    return Principal(key_id=key_id, organization_id="org_unit", role="owner", scopes=frozenset())


@pytest.fixture
def principal() -> Principal:
    return new_principal()


class Operation:
    """A creating operation: each call opens its transaction with ``finish.write`` (which claims
    the key) and stores its answer with ``finish`` there, or raises ``error`` inside it; ``calls``
    counts how often it really ran (got past the claim)."""

    def __init__(self, db: Database, status: int = 201, error: BaseException | None = None) -> None:
        self.db = db
        self.status = status
        self.error = error
        self.calls = 0

    def __call__(self, finish: Finish) -> None:
        with finish.write(self.db) as session:  # a replay or a refusal stops here
            self.calls += 1
            if self.error is not None:
                raise self.error
            finish(session, self.status, {"id": f"obj_{self.calls}", "call": self.calls})


def send(
    db: Database, principal: Principal, key: str | None, operation: Operation, body: bytes = b'{"a": 1}'
) -> Response[bytes]:
    return run(db, KEYRING, principal, key, fingerprint("POST", "/v1/things", body), "req_1", operation)


def decoded(response: Response[bytes]) -> Any:
    assert isinstance(response.content, bytes)
    return msgspec.json.decode(response.content)


def row(db: Database, principal: Principal, key: str) -> IdempotencyKey | None:
    with db.read() as session:
        return session.scalar(
            select(IdempotencyKey).where(IdempotencyKey.api_key_id == principal.key_id, IdempotencyKey.key == key)
        )


def age(db: Database, principal: Principal, key: str, **columns: Any) -> None:
    """Move a stored key's timestamps (``locked_at``, ``expires_at``) as time passing would."""
    with db.write() as session:
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.api_key_id == principal.key_id, IdempotencyKey.key == key)
            .values(**columns)
        )


# --- the fingerprint -------------------------------------------------------------------------


def test_the_fingerprint_ignores_key_order_and_whitespace_of_a_json_body() -> None:
    assert fingerprint("POST", "/v1/bookings", b'{"a": 1, "b": [1, 2]}') == fingerprint(
        "POST", "/v1/bookings", b'{\n  "b": [1,2],\n  "a": 1\n}'
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/v1/bookings", b'{"a": 1}'),
        ("POST", "/v1/users", b'{"a": 1}'),
        ("POST", "/v1/bookings", b'{"a": 2}'),
        ("POST", "/v1/bookings", b'{"a": 1, "b": null}'),
        ("POST", "/v1/bookings", b""),
    ],
)
def test_the_fingerprint_changes_with_method_path_or_body(method: str, path: str, body: bytes) -> None:
    assert fingerprint(method, path, body) != fingerprint("POST", "/v1/bookings", b'{"a": 1}')


def test_a_body_that_is_not_json_is_fingerprinted_as_sent() -> None:
    assert fingerprint("POST", "/v1/x", b"{not json") == fingerprint("POST", "/v1/x", b"{not json")
    assert fingerprint("POST", "/v1/x", b"{not json") != fingerprint("POST", "/v1/x", b"{not  json")


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\tinside", "line\nbreak", "ümlaut"])
def test_a_key_must_be_1_to_255_printable_ascii_characters(key: str) -> None:
    with pytest.raises(FieldError) as raised:
        validate_key(key)
    assert (raised.value.status, raised.value.code, raised.value.field) == (422, "validation_failed", "Idempotency-Key")


def test_a_key_of_255_printable_characters_is_accepted() -> None:
    key = "a-Z_0 9~!" + "k" * 246
    assert validate_key(key) == key


# --- claim and replay ------------------------------------------------------------------------


def test_without_a_key_the_operation_runs_every_time_and_nothing_is_stored(db: Database, principal: Principal) -> None:
    operation = Operation(db)
    first, second = send(db, principal, None, operation), send(db, principal, None, operation)
    assert (decoded(first)["call"], decoded(second)["call"]) == (1, 2)
    assert "Idempotent-Replayed" not in first.headers
    with db.read() as session:
        stored = session.scalar(
            select(func.count()).select_from(IdempotencyKey).where(IdempotencyKey.api_key_id == principal.key_id)
        )
    assert stored == 0


def test_a_replay_gets_the_stored_answer_without_running_again(db: Database, principal: Principal) -> None:
    operation = Operation(db)
    first = send(db, principal, "create-1", operation)
    replay = send(db, principal, "create-1", operation, body=b'{ "a" : 1 }')  # the same request
    assert operation.calls == 1
    assert (first.status_code, replay.status_code) == (201, 201)
    assert decoded(replay) == decoded(first) == {"id": "obj_1", "call": 1}
    assert "Idempotent-Replayed" not in first.headers
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.media_type == "application/json"


def test_the_stored_answer_is_encrypted_and_bound_to_its_key(db: Database, principal: Principal) -> None:
    send(db, principal, "secret-answer", Operation(db))
    stored = row(db, principal, "secret-answer")
    assert stored is not None
    assert stored.state == "done"
    assert stored.response_status == 201
    assert stored.response_body is not None
    assert b"obj_1" not in stored.response_body
    assert KEYRING.decrypt(stored.response_body, idempotency.associated_data(principal.key_id, "secret-answer"))
    with pytest.raises(DecryptionError):
        KEYRING.decrypt(stored.response_body, idempotency.associated_data(principal.key_id, "another-key"))


def test_keys_belong_to_the_api_key_that_sent_them(db: Database, principal: Principal) -> None:
    other = new_principal()
    operation = Operation(db)
    send(db, principal, "shared-name", operation)
    answer = send(db, other, "shared-name", operation, body=b'{"other": true}')
    assert operation.calls == 2
    assert "Idempotent-Replayed" not in answer.headers


def test_a_client_error_is_stored_and_replayed_as_problem_json(db: Database, principal: Principal) -> None:
    operation = Operation(db, error=Conflict("The slot is taken.", code="booking_conflict"))
    first = send(db, principal, "conflicting", operation)
    replay = send(db, principal, "conflicting", operation)
    assert operation.calls == 1
    assert (first.status_code, replay.status_code) == (409, 409)
    assert first.media_type == replay.media_type == PROBLEM_MEDIA_TYPE
    assert decoded(first) == decoded(replay)
    assert decoded(replay)["code"] == "booking_conflict"
    assert decoded(replay)["request_id"] == "req_1"
    assert replay.headers["Idempotent-Replayed"] == "true"


def test_a_server_error_releases_the_key_so_a_retry_runs_again(db: Database, principal: Principal) -> None:
    failing = Operation(db, error=ServiceUnavailable("Redis is down.", headers={"Retry-After": "5"}))
    first = send(db, principal, "after-outage", failing)
    assert (first.status_code, decoded(first)["code"]) == (503, "service_unavailable")
    assert first.headers["Retry-After"] == "5"
    assert row(db, principal, "after-outage") is None
    working = Operation(db)
    retried = send(db, principal, "after-outage", working)
    assert (retried.status_code, working.calls) == (201, 1)
    assert "Idempotent-Replayed" not in retried.headers


def test_an_unexpected_exception_releases_the_key_and_propagates(db: Database, principal: Principal) -> None:
    with pytest.raises(ZeroDivisionError):
        send(db, principal, "crashing", Operation(db, error=ZeroDivisionError()))
    assert row(db, principal, "crashing") is None
    assert send(db, principal, "crashing", Operation(db)).status_code == 201


# --- reuse, in use, a dead claim, expiry -----------------------------------------------------


def test_the_same_key_for_another_request_is_refused_as_reused(db: Database, principal: Principal) -> None:
    operation = Operation(db)
    send(db, principal, "one-purpose", operation)
    refused = send(db, principal, "one-purpose", operation, body=b'{"a": 2}')
    assert (refused.status_code, decoded(refused)["code"]) == (422, "idempotency_key_reused")
    assert refused.media_type == PROBLEM_MEDIA_TYPE
    assert operation.calls == 1


def in_flight(db: Database, principal: Principal, key: str) -> None:
    """A committed in-flight claim, as a process that died mid-request (or an older Hub) leaves it."""
    now = utcnow()
    with db.write() as session:
        session.add(
            IdempotencyKey(
                api_key_id=principal.key_id,
                key=key,
                fingerprint=fingerprint("POST", "/v1/things", b'{"a": 1}'),
                state="in_flight",
                created_at=now,
                locked_at=now,
                expires_at=now + idempotency.RETENTION,
            )
        )


def test_the_same_key_while_the_first_request_runs_is_in_use(db: Database, principal: Principal) -> None:
    in_flight(db, principal, "busy")
    second = Operation(db)
    refused = send(db, principal, "busy", second)
    assert (refused.status_code, decoded(refused)["code"]) == (409, "idempotency_key_in_use")
    assert refused.headers["Retry-After"] == "1"
    assert second.calls == 0


def test_a_claim_older_than_the_stale_limit_is_taken_over(db: Database, principal: Principal) -> None:
    """A process that died after claiming left an in-flight row and committed nothing else."""
    now = utcnow()
    in_flight(db, principal, "orphaned")
    waiting = Operation(db)
    refused = send(db, principal, "orphaned", waiting)  # younger than STALE_CLAIM: still in use
    assert refused.status_code == 409
    age(db, principal, "orphaned", locked_at=now - idempotency.STALE_CLAIM - timedelta(seconds=1))
    taken_over = send(db, principal, "orphaned", waiting)
    assert (taken_over.status_code, waiting.calls) == (201, 1)
    stored = row(db, principal, "orphaned")
    assert stored is not None
    assert stored.state == "done"


def test_an_expired_key_starts_afresh_even_for_another_request(db: Database, principal: Principal) -> None:
    operation = Operation(db)
    send(db, principal, "yesterday", operation)
    age(db, principal, "yesterday", expires_at=utcnow() - timedelta(seconds=1))
    fresh = send(db, principal, "yesterday", operation, body=b'{"a": 2}')  # no longer "reused"
    assert (fresh.status_code, decoded(fresh)["call"], operation.calls) == (201, 2, 2)
    assert "Idempotent-Replayed" not in fresh.headers
    stored = row(db, principal, "yesterday")
    assert stored is not None
    assert stored.expires_at > utcnow() + idempotency.RETENTION - timedelta(minutes=1)


def test_a_stored_key_is_kept_for_the_retention_period(db: Database, principal: Principal) -> None:
    before = utcnow()
    send(db, principal, "kept", Operation(db))
    stored = row(db, principal, "kept")
    assert stored is not None
    assert before + idempotency.RETENTION <= stored.expires_at <= utcnow() + idempotency.RETENTION


def test_purging_removes_only_expired_keys(db: Database, principal: Principal) -> None:
    send(db, principal, "old", Operation(db))
    send(db, principal, "new", Operation(db))
    age(db, principal, "old", expires_at=utcnow() - timedelta(minutes=1))
    assert purge_expired(db) >= 1
    assert row(db, principal, "old") is None
    assert row(db, principal, "new") is not None
    assert purge_expired(db, now=utcnow() + idempotency.RETENTION + timedelta(seconds=1)) >= 1
    assert row(db, principal, "new") is None
