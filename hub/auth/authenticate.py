"""Turning a bearer token into a ``Principal`` (or a 401 that says what is wrong)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from hub.auth.keys import KEY_PREFIX, hash_key
from hub.auth.principal import Principal
from hub.clock import utcnow
from hub.db import Database
from hub.db.tables import ApiKey
from hub.errors import ApiKeyRevoked, Unauthenticated

LAST_USED_RESOLUTION = timedelta(minutes=1)


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated(
            "Send your API key as `Authorization: Bearer hub_sk_...`.",
            headers={"WWW-Authenticate": 'Bearer realm="hub"'},
        )
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(KEY_PREFIX):
        raise Unauthenticated(
            "The Authorization header must be `Bearer hub_sk_...`.",
            headers={"WWW-Authenticate": 'Bearer realm="hub", error="invalid_token"'},
        )
    return token


def authenticate(db: Database, authorization: str | None) -> Principal:
    token = bearer_token(authorization)
    with db.read() as session:
        key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(token)))
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
    return Principal(key_id=key.id, organization_id=key.organization_id, role=key.role, scopes=frozenset(key.scopes))
