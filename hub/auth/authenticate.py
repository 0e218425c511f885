"""Turning a bearer token into a ``Principal`` (or a 401 that says what is wrong).

A key that authenticated is remembered for ``CACHE_SECONDS`` (one second) in the process's
``PrincipalCache``, so a client sending many requests costs one key lookup per second instead
of one per request. A revocation through the API or the dashboard drops the key from the cache
of the process that revoked it at once; every other process stops accepting the key within
``CACHE_SECONDS``. Unknown and revoked keys are never cached: they are looked up every time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select, update

from hub.auth.keys import KEY_PREFIX, hash_key
from hub.auth.principal import Principal
from hub.clock import utcnow
from hub.db import Database
from hub.db.tables import ApiKey
from hub.errors import ApiKeyRevoked, Unauthenticated

LAST_USED_RESOLUTION = timedelta(minutes=1)
CACHE_SECONDS = 1.0  # how long another process may go on accepting a key revoked elsewhere
CACHE_ENTRIES = 10_000  # past this many, expired entries are dropped before one is added


class PrincipalCache:
    """The principals of keys that authenticated in the last ``ttl`` seconds, by key hash."""

    def __init__(self, ttl: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, key_hash: str) -> Principal | None:
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            self._entries.pop(key_hash, None)
            return None
        return entry[1]

    def put(self, key_hash: str, principal: Principal) -> None:
        now = self._clock()
        if len(self._entries) >= CACHE_ENTRIES:
            self._entries = {h: e for h, e in self._entries.items() if e[0] > now}
        self._entries[key_hash] = (now + self.ttl, principal)

    def forget(self, key_id: str) -> None:
        """Drop the key ``key_id`` (just revoked) so this process refuses it from now on."""
        for key_hash, (_, principal) in list(self._entries.items()):
            if principal.key_id == key_id:
                self._entries.pop(key_hash, None)


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated(
            "Send your API key as `Authorization: Bearer hub_sk_...`.",
            headers={"WWW-Authenticate": 'Bearer realm="hub"'},
        )
    token = _bearer(authorization)
    if token is None:
        raise Unauthenticated(
            "The Authorization header must be `Bearer hub_sk_...`.",
            headers={"WWW-Authenticate": 'Bearer realm="hub", error="invalid_token"'},
        )
    return token


def _bearer(authorization: str) -> str | None:
    """The key of ``Bearer hub_sk_...``; ``None`` for any other form."""
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token.startswith(KEY_PREFIX) else None


def cached_principal(authorization: str | None, cache: PrincipalCache) -> Principal | None:
    """The principal of the bearer key in ``authorization`` when ``cache`` holds it (the key
    authenticated in this process in the last second), else ``None``, also for a malformed
    header: no lookup, nothing raised."""
    token = _bearer(authorization) if authorization else None
    return cache.get(hash_key(token)) if token else None


def authenticate(db: Database, authorization: str | None, cache: PrincipalCache | None = None) -> Principal:
    """The principal of the bearer key in ``authorization``; ``cache`` (the process's, for
    ``/v1`` requests) answers for a key seen in the last second without a lookup."""
    key_hash = hash_key(bearer_token(authorization))
    if cache is not None:
        cached = cache.get(key_hash)
        if cached is not None:
            return cached
    with db.read() as session:
        key = session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))
    if key is None:
        raise Unauthenticated(
            "This API key is not valid. Check that it was copied whole, or create a new key.",
            headers={"WWW-Authenticate": 'Bearer realm="hub", error="invalid_token"'},
        )
    if key.revoked_at is not None:
        raise ApiKeyRevoked(
            f"API key {key.id} was revoked at {key.revoked_at.isoformat()}; use another key.",
            headers={"WWW-Authenticate": 'Bearer realm="hub", error="invalid_token"'},
        )
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        with db.write() as session:
            session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
    principal = Principal(
        key_id=key.id, organization_id=key.organization_id, role=key.role, scopes=frozenset(key.scopes)
    )
    if cache is not None:
        cache.put(key_hash, principal)
    return principal
