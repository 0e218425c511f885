"""``Idempotency-Key`` for creating POSTs (API-v1.md, "Idempotency").

* The first request with a key claims it (a committed ``in_flight`` row), runs, and stores its
  final status and body *in the same transaction* as its effects, so a stored answer and the
  object it describes can never disagree.
* A replay with the same fingerprint (method, path, canonical body) gets the stored answer with
  ``Idempotent-Replayed: true`` — including stored 4xx answers such as a 409 conflict.
* The same key with another fingerprint: ``422 idempotency_key_reused``.
* The same key while the first request runs: ``409 idempotency_key_in_use``. A claim older than
  ``STALE_CLAIM`` belongs to a process that died before committing anything; it is taken over.
* Keys are scoped to the API key that sent them and kept for ``RETENTION``.
* Stored answers are encrypted at rest (they may hold a secret shown once, such as a new API
  key): ``run()`` takes the keyring as a required argument, so there is no way to store an
  answer in plaintext.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import msgspec
from litestar import Response
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.auth.principal import Principal
from hub.clock import utcnow
from hub.crypto import Keyring
from hub.db import Database
from hub.db.tables import IdempotencyKey
from hub.errors import PROBLEM_MEDIA_TYPE, ApiError, Conflict, FieldError, problem_of

RETENTION = timedelta(hours=24)
STALE_CLAIM = timedelta(seconds=60)
HEADER = "Idempotency-Key"

Finish = Callable[[Session, int, Any], None]
"""``finish(session, status, obj)``: encode the answer and record it in the caller's transaction."""
Operation = Callable[[Finish], object]


def no_finish(_session: Session, _status: int, _obj: Any) -> None:
    """The ``finish`` of a call that is not guarded by an idempotency key."""


def associated_data(api_key_id: str, key: str) -> str:
    """What binds a stored answer's ciphertext to its row (``hub secrets rotate`` uses it too)."""
    return f"idempotency:{api_key_id}:{key}"


def fingerprint(method: str, path: str, body: bytes) -> str:
    try:
        canonical = msgspec.json.encode(msgspec.json.decode(body), order="sorted") if body else b""
    except msgspec.DecodeError:
        canonical = body
    return hashlib.sha256(b"\n".join([method.encode(), path.encode(), canonical])).hexdigest()


def validate_key(key: str) -> str:
    if not 1 <= len(key) <= 255 or not all(32 <= ord(c) < 127 for c in key):
        raise FieldError(HEADER, "must be 1 to 255 printable ASCII characters")
    return key


def run(
    db: Database,
    keyring: Keyring,
    principal: Principal,
    key: str | None,
    request_fingerprint: str,
    request_id: str | None,
    operation: Operation,
) -> Response[bytes]:
    """Run ``operation`` at most once per key. ``operation(finish)`` must call
    ``finish(session, status, obj)`` inside the transaction that commits its effects. The
    stored answer is encrypted with ``keyring``."""
    answer: list[tuple[int, bytes]] = []

    def record(session: Session, status: int, body: bytes) -> None:
        if key is not None:
            session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.api_key_id == principal.key_id, IdempotencyKey.key == key)
                .values(
                    state="done",
                    response_status=status,
                    response_body=keyring.encrypt(body, associated_data(principal.key_id, key)),
                )
            )

    def finish(session: Session, status: int, obj: Any) -> None:
        body = msgspec.json.encode(obj)
        record(session, status, body)
        answer[:] = [(status, body)]

    if key is None:
        operation(finish)
        return _json(*answer[0], replayed=False)
    key = validate_key(key)
    stored = _claim(db, keyring, principal.key_id, key, request_fingerprint)
    if stored is not None:
        return _json(stored[0], stored[1], replayed=True)
    try:
        operation(finish)
    except ApiError as error:
        status, body = error.status, msgspec.json.encode(problem_of(error, request_id))
        if error.status < 500:
            with db.write() as session:
                record(session, status, body)
        else:
            _release(db, principal.key_id, key)
        return _json(status, body, replayed=False, problem=True, headers=error.headers)
    except BaseException:
        _release(db, principal.key_id, key)
        raise
    return _json(*answer[0], replayed=False)


def _claim(
    db: Database, keyring: Keyring, api_key_id: str, key: str, request_fingerprint: str
) -> tuple[int, bytes] | None:
    now = utcnow()
    claim = insert(IdempotencyKey).values(
        api_key_id=api_key_id,
        key=key,
        fingerprint=request_fingerprint,
        state="in_flight",
        created_at=now,
        locked_at=now,
        expires_at=now + RETENTION,
    )
    try:
        with db.write() as session:
            session.execute(claim)
        return None
    except IntegrityError:
        pass
    with db.write() as session:
        existing = session.scalar(
            select(IdempotencyKey).where(IdempotencyKey.api_key_id == api_key_id, IdempotencyKey.key == key)
        )
        if existing is None or existing.expires_at <= now:
            if existing is not None:
                session.delete(existing)
                session.flush()
            session.execute(claim)
            return None
        if existing.fingerprint != request_fingerprint:
            raise ApiError(
                "This Idempotency-Key was already used for a different request (method, path or "
                "body differ). Use a new key for a new request.",
                code="idempotency_key_reused",
                status=422,
                title="Idempotency key reused",
            )
        if existing.state == "done" and existing.response_status is not None:
            return existing.response_status, keyring.decrypt(
                existing.response_body or b"", associated_data(api_key_id, key)
            )
        if now - existing.locked_at < STALE_CLAIM:
            raise Conflict(
                "A request with this Idempotency-Key is still being processed. Retry after it "
                "finishes to get its answer.",
                code="idempotency_key_in_use",
                title="Idempotency key in use",
                headers={"Retry-After": "1"},
            )
        existing.locked_at = now  # the first attempt died before committing: take over
        return None


def _release(db: Database, api_key_id: str, key: str) -> None:
    with db.write() as session:
        session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.api_key_id == api_key_id,
                IdempotencyKey.key == key,
                IdempotencyKey.state == "in_flight",
            )
        )


def _json(
    status: int, body: bytes, *, replayed: bool, problem: bool = False, headers: dict[str, Any] | None = None
) -> Response[bytes]:
    all_headers = dict(headers or {})
    if replayed:
        all_headers["Idempotent-Replayed"] = "true"
        problem = status >= 400
    return Response(
        body,
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE if problem else "application/json",
        headers=all_headers,
    )


def purge_expired(db: Database, now: datetime | None = None) -> int:
    """Delete keys past their retention; returns how many were removed."""
    with db.write() as session:
        result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= (now or utcnow())))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
