"""Who is looking at the dashboard: the session cookie, CSRF tokens, the viewer, permissions.

* The session is one signed cookie (``hub_dashboard``; HttpOnly, SameSite=Strict, path
  ``/dashboard``, Secure when Hub is served over https). It holds a random nonce, an absolute
  expiry (8 hours after sign-in) and, once signed in, the API key's id and organization —
  never the key itself. The sign-in form gets an anonymous session first, so even sign-in is
  a CSRF-protected POST; signing in replaces the nonce.
* A signed-in session also exists server-side: a ``dashboard_sessions`` row whose id is the
  SHA-256 of the nonce (the nonce itself is never stored). Every request needs that row, so
  signing out, revoking the key and "sign out everywhere" (which delete rows) end the session
  at once, also for any copy of the cookie.
* The CSRF token of a session is the HMAC of its nonce; every POST carries it in a hidden
  ``csrf_token`` field and it is compared in constant time before the handler runs.
* On every request the key is read again: a revoked key ends the session at once.
* Only ``owner`` and ``support`` keys may sign in. Each page and action names an operation of
  ``hub.auth.scopes.OPERATION_SCOPES`` and needs its scopes, exactly as the ``/v1`` API does
  (plus the support role's dashboard power to retry work it may read).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request
from litestar.datastructures import Cookie
from sqlalchemy import delete, select

from dashboard.signing import Signer
from hub.auth.principal import Principal
from hub.auth.scopes import dashboard_missing_scopes
from hub.clock import utcnow
from hub.db import Database
from hub.db.tables import ApiKey, DashboardSession, Organization

COOKIE = "hub_dashboard"
COOKIE_PATH = "/dashboard"
SESSION_SECONDS = 8 * 3600
ANONYMOUS_SECONDS = 3600  # how long a sign-in form stays usable
DASHBOARD_ROLES = frozenset({"owner", "support"})


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
    """The signed-in key lacks a scope for this page or action (HTTP 403, the page names it)."""

    def __init__(self, message: str, missing: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.missing = missing


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

    def missing(self, operation: str) -> tuple[str, ...]:
        """The scopes this key lacks for ``operation`` (see ``hub.auth.scopes``); empty: allowed."""
        return dashboard_missing_scopes(self.principal.role, self.principal.scopes, operation)

    def may(self, operation: str) -> bool:
        return not self.missing(operation)

    def require(self, operation: str) -> None:
        missing = self.missing(operation)
        if missing:
            named = " and ".join(f"`{scope}`" for scope in missing)
            raise NotAllowed(
                f"This needs the {named} scope{'s' if len(missing) > 1 else ''}, which the key of this session "
                f"({self.key_name}, {self.key_prefix}…) does not have. Sign in with a key that has "
                f"{'them' if len(missing) > 1 else 'it'}, or ask an owner of your organization to create one.",
                missing,
            )


def new_session(key_id: str | None = None, organization_id: str | None = None) -> Session:
    """A session in the cookie only: the anonymous one of the sign-in form (``start_session``
    makes signed-in ones)."""
    lifetime = SESSION_SECONDS if key_id else ANONYMOUS_SECONDS
    return Session(
        nonce=secrets.token_urlsafe(32),
        expires=int(time.time()) + lifetime,
        key_id=key_id,
        organization_id=organization_id,
    )


def session_id(session: Session) -> str:
    """The server-side id of a session: the SHA-256 of its nonce (256 random bits, so a fast hash will do)."""
    return hashlib.sha256(session.nonce.encode("ascii")).hexdigest()


def start_session(db: Database, key_id: str, organization_id: str) -> Session:
    """Sign in: a new session, stored server-side (expired sessions of every key are swept here)."""
    session = new_session(key_id, organization_id)
    now = utcnow()
    with db.write() as writing:
        writing.execute(delete(DashboardSession).where(DashboardSession.expires_at <= now))
        writing.add(
            DashboardSession(
                id=session_id(session),
                key_id=key_id,
                organization_id=organization_id,
                created_at=now,
                expires_at=datetime.fromtimestamp(session.expires, UTC),
            )
        )
    return session


def end_session(db: Database, session: Session | None) -> None:
    """Sign out: the session (and every copy of its cookie) stops working now."""
    if session is None or session.key_id is None:
        return
    with db.write() as writing:
        writing.execute(delete(DashboardSession).where(DashboardSession.id == session_id(session)))


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
            select(ApiKey, Organization.name, DashboardSession.id)
            .join(Organization, Organization.id == ApiKey.organization_id)
            .outerjoin(
                DashboardSession,
                (DashboardSession.id == session_id(session))
                & (DashboardSession.key_id == ApiKey.id)
                & (DashboardSession.expires_at > utcnow()),
            )
            .where(ApiKey.id == session.key_id)
        ).first()
    if row is None:
        raise SignInRequired("Your session has ended; sign in again.")
    key, organization_name, stored = row
    if key.revoked_at is not None:
        raise SignInRequired("The API key of this session was revoked; sign in with another key.")
    if stored is None:
        raise SignInRequired("Your session has ended (signed out, or ended by an owner); sign in again.")
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
