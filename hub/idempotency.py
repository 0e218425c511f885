"""``Idempotency-Key`` for creating POSTs (API-v1.md, "Idempotency").

* The first request with a key claims it, runs, and stores its final status and body, all in
  *one* write transaction with its effects: the claim (an ``in_flight`` row) is that
  transaction's first statement (``Finish.write``), so a stored answer and the object it
  describes can never disagree, and a request that fails leaves no claim behind.
* A replay with the same fingerprint (method, path, canonical body) gets the stored answer with
  ``Idempotent-Replayed: true`` — including stored 4xx answers such as a 409 conflict.
* The same key with another fingerprint: ``422 idempotency_key_reused``.
* The same key while the first request runs: ``409 idempotency_key_in_use`` on PostgreSQL
  (the running request holds an advisory lock on the key). On SQLite the running request holds
  the database's write lock until it commits, so the second request waits and gets the first
  one's answer as a replay. A committed ``in_flight`` row (written by an older Hub) answers 409
  too; one older than ``STALE_CLAIM`` belongs to a process that died, and is taken over.
* Keys are scoped to the API key that sent them and kept for ``RETENTION``.
* Stored answers are encrypted at rest (they may hold a secret shown once, such as a new API
  key): ``run()`` takes the keyring as a required argument, so there is no way to store an
  answer in plaintext.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from typing import Any, cast

import msgspec
from litestar import Response
from sqlalchemy import Table, bindparam, delete, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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
LOCK_SPACE = 0x1DE9  # the first key of the two-key advisory locks of idempotency keys (PostgreSQL)


class Finish:
    """How an operation commits its effects and its answer together.

    ``with finish.write(db) as session:`` opens the operation's write transaction and, under an
    ``Idempotency-Key``, claims the key as its first statement; ``finish(session, status, obj)``
    inside it records the answer. Without a key (``no_finish``) it is ``db.write()`` and a no-op.
    """

    def write(self, db: Database) -> AbstractContextManager[Session]:
        return db.write()

    def __call__(self, session: Session, status: int, obj: Any) -> None:
        """Encode the answer and record it in the caller's transaction."""


no_finish = Finish()
"""The ``finish`` of a call that is not guarded by an idempotency key."""

Operation = Callable[[Finish], object]

# Built once and executed with parameters (they run on every request with a key): the claim,
# which inserts nothing when the key has a row, and the stored answer.
_KEYS = cast(Table, IdempotencyKey.__table__)
_CLAIM_SQLITE = sqlite_insert(_KEYS).on_conflict_do_nothing().returning(_KEYS.c.id)
_CLAIM_POSTGRESQL = postgresql_insert(_KEYS).on_conflict_do_nothing().returning(_KEYS.c.id)
_RECORD = update(_KEYS).where(
    _KEYS.c.api_key_id == bindparam("claimed_api_key_id"), _KEYS.c.key == bindparam("claimed_key")
)


class KeyTaken(Exception):
    """Raised inside an operation's transaction when its key turns out to be taken (a stored
    answer to replay, or a refusal); ``run()`` rolls back and answers ``response``."""

    def __init__(self, response: Response[bytes]) -> None:
        super().__init__("idempotency key taken")
        self.response = response


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


class _Claim(Finish):
    """The ``finish`` of a request with an ``Idempotency-Key``."""

    def __init__(
        self, keyring: Keyring, api_key_id: str, key: str, request_fingerprint: str, request_id: str | None
    ) -> None:
        self.keyring, self.request_id = keyring, request_id
        self.api_key_id, self.key, self.fingerprint = api_key_id, key, request_fingerprint
        self.answer: tuple[int, bytes] | None = None
        self._claimed_in: Session | None = None

    @contextmanager
    def write(self, db: Database) -> Iterator[Session]:
        with db.write() as session:
            self._claim(session, db.is_sqlite)
            self._claimed_in = session
            yield session

    def __call__(self, session: Session, status: int, obj: Any) -> None:
        self.record(session, status, msgspec.json.encode(obj))

    def record(self, session: Session, status: int, body: bytes) -> None:
        if session is not self._claimed_in:
            raise RuntimeError("record the answer in the transaction opened with finish.write(db)")
        session.execute(
            _RECORD,
            {
                "claimed_api_key_id": self.api_key_id,
                "claimed_key": self.key,
                "state": "done",
                "response_status": status,
                "response_body": self.keyring.encrypt(body, associated_data(self.api_key_id, self.key)),
            },
        )
        self.answer = (status, body)

    def _claim(self, session: Session, is_sqlite: bool) -> None:
        """Claim the key in ``session``'s transaction, or raise ``KeyTaken``.

        On SQLite the write transaction holds the database's write lock, so no other request
        runs between this claim and the commit: a second request with the key waits, then finds
        the answer. On PostgreSQL a transaction-scoped advisory lock on the key stands for the
        claim while it is uncommitted; a second request that cannot take it is refused at once.
        """
        if not is_sqlite:
            locked = session.scalar(
                text("SELECT pg_try_advisory_xact_lock(:space, hashtext(:name))"),
                {"space": LOCK_SPACE, "name": associated_data(self.api_key_id, self.key)},
            )
            if not locked:
                raise KeyTaken(_refusal(_in_use(), self.request_id))
        now = utcnow()
        row = dict(  # noqa: C408 - keyword form mirrors the columns
            fingerprint=self.fingerprint, state="in_flight", created_at=now, locked_at=now, expires_at=now + RETENTION
        )
        claim = _CLAIM_SQLITE if is_sqlite else _CLAIM_POSTGRESQL
        values = {"api_key_id": self.api_key_id, "key": self.key, **row}
        if session.execute(claim, values).first() is not None:
            return
        existing = session.scalar(
            select(IdempotencyKey).where(IdempotencyKey.api_key_id == self.api_key_id, IdempotencyKey.key == self.key)
        )
        if existing is None:  # the sweep removed the expired row meanwhile: the key is free
            session.execute(claim, values)
            return
        try:
            stored = _stored_answer(existing, self.fingerprint, now)
        except ApiError as error:
            raise KeyTaken(_refusal(error, self.request_id)) from None
        if stored is not None:
            body = self.keyring.decrypt(stored[1], associated_data(self.api_key_id, self.key))
            raise KeyTaken(_json(stored[0], body, replayed=True))
        # expired, or claimed by a process that died before committing (or an older Hub): take over
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == existing.id)
            .values(**row, response_status=None, response_body=None)
        )


def run(
    db: Database,
    keyring: Keyring,
    principal: Principal,
    key: str | None,
    request_fingerprint: str,
    request_id: str | None,
    operation: Operation,
) -> Response[bytes]:
    """Run ``operation`` at most once per key. ``operation(finish)`` must open its write
    transaction with ``finish.write(db)`` and call ``finish(session, status, obj)`` inside it.
    The stored answer is encrypted with ``keyring``."""
    if key is None:
        answer = _Answer()
        operation(answer)
        assert answer.value is not None, "the operation did not call finish()"
        return _json(*answer.value, replayed=False)
    claim = _Claim(keyring, principal.key_id, validate_key(key), request_fingerprint, request_id)
    try:
        operation(claim)
    except KeyTaken as taken:
        return taken.response
    except ApiError as error:
        status, body = error.status, _problem_bytes(error, request_id)
        if error.status < 500:  # a refusal is the answer too: store it under the key
            try:
                with claim.write(db) as session:
                    claim.record(session, status, body)
            except KeyTaken as taken:  # meanwhile another request with the key finished
                return taken.response
        return _json(status, body, replayed=False, problem=True, headers=error.headers)
    assert claim.answer is not None, "the operation did not call finish()"
    return _json(*claim.answer, replayed=False)


class _Answer(Finish):
    """The ``finish`` of a creating POST sent without a key: keeps the answer, stores nothing."""

    def __init__(self) -> None:
        self.value: tuple[int, bytes] | None = None

    def __call__(self, session: Session, status: int, obj: Any) -> None:
        self.value = (status, msgspec.json.encode(obj))


def _stored_answer(existing: IdempotencyKey, request_fingerprint: str, now: datetime) -> tuple[int, bytes] | None:
    """What a request meets in the key's row: its stored (encrypted) answer, a refusal (raised),
    or ``None`` when the row may be taken over (expired, or a claim older than ``STALE_CLAIM``)."""
    if existing.expires_at <= now:
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
        return existing.response_status, existing.response_body or b""
    if now - existing.locked_at < STALE_CLAIM:
        raise _in_use()
    return None


def _in_use() -> Conflict:
    return Conflict(
        "A request with this Idempotency-Key is still being processed. Retry after it finishes to get its answer.",
        code="idempotency_key_in_use",
        title="Idempotency key in use",
        headers={"Retry-After": "1"},
    )


def _refusal(error: ApiError, request_id: str | None) -> Response[bytes]:
    return _json(error.status, _problem_bytes(error, request_id), replayed=False, problem=True, headers=error.headers)


def _problem_bytes(error: ApiError, request_id: str | None) -> bytes:
    return msgspec.json.encode(problem_of(error, request_id))


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
