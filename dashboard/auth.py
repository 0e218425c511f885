"""Who is looking at the dashboard: the session cookie, CSRF tokens, the viewer, permissions.

* The session is one signed cookie (``hub_dashboard``; HttpOnly, SameSite=Strict, path
  ``/dashboard``, Secure when Hub is served over https). It holds a random nonce, an absolute
  expiry (8 hours after sign-in) and, once signed in, the API key's id and organization —
  never the key itself. The sign-in form gets an anonymous session first, so even sign-in is
  a CSRF-protected POST; signing in replaces the nonce.
* The CSRF token of a session is the HMAC of its nonce; every POST carries it in a hidden
  ``csrf_token`` field and it is compared in constant time before the handler runs.
* On every request the key is read again: a revoked key ends the session at once.
* Only ``owner`` and ``support`` keys may sign in. Support sessions are read-only except the
  actions in ``SUPPORT_ACTIONS`` (retries, resyncs, re-sending a relink link).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Request
from litestar.datastructures import Cookie
from sqlalchemy import select

from dashboard.signing import Signer
from hub.auth.principal import Principal
from hub.db import Database
from hub.db.tables import ApiKey, Organization

COOKIE = "hub_dashboard"
COOKIE_PATH = "/dashboard"
SESSION_SECONDS = 8 * 3600
ANONYMOUS_SECONDS = 3600  # how long a sign-in form stays usable
DASHBOARD_ROLES = frozenset({"owner", "support"})
SUPPORT_ACTIONS = frozenset({"resync", "relink", "retry_job", "retry_delivery"})
OWNER_ACTIONS = SUPPORT_ACTIONS | {"create_key", "revoke_key", "read_keys", "read_audit", "enable_endpoint"}


class Session(msgspec.Struct, frozen=True):
    nonce: str
    expires: int  # Unix seconds
    key_id: str | None = None
    organization_id: str | None = None


class SignInRequired(Exception):
    """No valid session: the viewer is sent to the sign-in page (with ``reason`` shown there)."""

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or "sign in")
        self.reason = reason


class NotAllowed(Exception):
    """The signed-in key may look but not do this (HTTP 403, page says why)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Viewer:
    """The signed-in API key, as the dashboard uses it."""

    principal: Principal
    key_name: str
    key_prefix: str
    organization_name: str
    csrf_token: str

    @property
    def role(self) -> str:
        return self.principal.role

    @property
    def is_owner(self) -> bool:
        return self.principal.role == "owner"

    def may(self, action: str) -> bool:
        return action in (OWNER_ACTIONS if self.is_owner else SUPPORT_ACTIONS)

    def require(self, action: str) -> None:
        if not self.may(action):
            raise NotAllowed(
                f"A {self.role} key cannot do this; it needs an owner key. Sign in with an owner key, "
                "or ask an owner of your organization."
            )


def new_session(key_id: str | None = None, organization_id: str | None = None) -> Session:
    lifetime = SESSION_SECONDS if key_id else ANONYMOUS_SECONDS
    return Session(
        nonce=secrets.token_urlsafe(18),
        expires=int(time.time()) + lifetime,
        key_id=key_id,
        organization_id=organization_id,
    )


def session_cookie(signer: Signer, session: Session, *, secure: bool) -> Cookie:
    value = signer.sign(msgspec.json.encode(session), "session")
    return Cookie(
        key=COOKIE,
        value=value,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure,
        max_age=max(0, session.expires - int(time.time())),
    )


def clear_cookie(name: str = COOKIE) -> Cookie:
    return Cookie(key=name, value="", path=COOKIE_PATH, httponly=True, samesite="strict", max_age=0)


def read_session(signer: Signer, request: Request[Any, Any, Any]) -> Session | None:
    """The request's unexpired session, or ``None``."""
    raw = request.cookies.get(COOKIE)
    payload = signer.unsign(raw, "session") if raw else None
    if payload is None:
        return None
    try:
        session = msgspec.json.decode(payload, type=Session)
    except msgspec.DecodeError:
        return None
    return session if session.expires > time.time() else None


def csrf_token(signer: Signer, session: Session) -> str:
    return signer.digest(session.nonce, "csrf")


def csrf_valid(signer: Signer, session: Session | None, token: str | None) -> bool:
    return session is not None and bool(token) and signer.matches(session.nonce, "csrf", token or "")


def load_viewer(db: Database, signer: Signer, request: Request[Any, Any, Any]) -> Viewer:
    """The signed-in viewer, re-checking the key; ``SignInRequired`` when there is none."""
    session = read_session(signer, request)
    if session is None or session.key_id is None:
        raise SignInRequired("Your session has ended; sign in again." if request.cookies.get(COOKIE) else None)
    with db.read() as reading:
        row = reading.execute(
            select(ApiKey, Organization.name)
            .join(Organization, Organization.id == ApiKey.organization_id)
            .where(ApiKey.id == session.key_id)
        ).first()
    if row is None:
        raise SignInRequired("Your session has ended; sign in again.")
    key, organization_name = row
    if key.revoked_at is not None:
        raise SignInRequired("The API key of this session was revoked; sign in with another key.")
    if key.organization_id != session.organization_id or key.role not in DASHBOARD_ROLES:
        raise SignInRequired("Your session has ended; sign in again.")
    principal = Principal(
        key_id=key.id, organization_id=key.organization_id, role=key.role, scopes=frozenset(key.scopes)
    )
    return Viewer(
        principal=principal,
        key_name=key.name,
        key_prefix=key.prefix,
        organization_name=organization_name,
        csrf_token=csrf_token(signer, session),
    )
