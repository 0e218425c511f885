"""API keys (create, list, revoke), organizations, and the audit log."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.auth import audit
from hub.auth.keys import display_prefix, generate_key, hash_key
from hub.auth.principal import Principal
from hub.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, AuditEventOut
from hub.auth.scopes import ROLE_SCOPES, default_scopes, may_grant_role
from hub.clock import utcnow
from hub.db import Database
from hub.db.tables import ApiKey, AuditEvent, DashboardSession, Organization
from hub.errors import FieldError, InsufficientScope, NotFound
from hub.idempotency import Finish, no_finish
from hub.ids import is_valid, new_id
from hub.pagination import Page, page_by_id


def _out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        name=key.name,
        role=key.role,
        scopes=sorted(key.scopes),
        prefix=key.prefix,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


def _insert_key(
    session: Session, organization_id: str, name: str, role: str, scopes: frozenset[str], created_by: str | None
) -> tuple[ApiKey, str]:
    secret = generate_key()
    key = ApiKey(
        id=new_id("api_key"),
        organization_id=organization_id,
        name=name,
        prefix=display_prefix(secret),
        key_hash=hash_key(secret),
        role=role,
        scopes=sorted(scopes),
        created_at=utcnow(),
        created_by=created_by,
        last_used_at=None,
        revoked_at=None,
    )
    session.add(key)
    audit.record(
        session,
        organization_id=organization_id,
        action="api_key.created",
        actor_key_id=created_by,
        target_type="api_key",
        target_id=key.id,
        data={"name": name, "role": role, "scopes": sorted(scopes)},
    )
    return key, secret


def create_key(db: Database, principal: Principal, data: ApiKeyCreate, finish: Finish = no_finish) -> ApiKeyCreated:
    if not may_grant_role(principal.role, data.role):
        raise InsufficientScope(f"A `{principal.role}` key cannot create a `{data.role}` key.")
    scopes = frozenset(data.scopes) if data.scopes is not None else default_scopes(data.role)
    if not scopes:
        raise FieldError("scopes", 'an `app` key needs at least one scope, e.g. ["bookings:read"]')
    beyond_role = scopes - ROLE_SCOPES[data.role]
    if beyond_role:
        raise FieldError("scopes", f"role `{data.role}` cannot hold {', '.join(sorted(beyond_role))}")
    beyond_own = scopes - principal.scopes
    if beyond_own:
        raise InsufficientScope(
            f"A key cannot grant scopes it does not hold: {', '.join(sorted(beyond_own))}.",
            extra={"required_scope": sorted(beyond_own)[0]},
        )
    with finish.write(db) as session:
        key, secret = _insert_key(session, principal.organization_id, data.name, data.role, scopes, principal.key_id)
        out = ApiKeyCreated(
            key=secret, **{f: getattr(_out(key), f) for f in ApiKeyOut.__struct_fields__ if f != "object"}
        )
        finish(session, 201, out)
    return out


def list_keys(db: Database, principal: Principal, limit: int, cursor: str | None) -> Page[ApiKeyOut]:
    query = select(ApiKey).where(ApiKey.organization_id == principal.organization_id)
    with db.read() as session:
        rows, next_cursor = page_by_id(session, query, ApiKey.id, limit, cursor)
    return Page(data=[_out(k) for k in rows], next_cursor=next_cursor)


def revoke_key(db: Database, principal: Principal, key_id: str) -> ApiKeyOut:
    """Revoke once; revoking again returns the key unchanged."""
    with db.write() as session:
        key = session.get(ApiKey, key_id) if is_valid(key_id, "api_key") else None
        if key is None or key.organization_id != principal.organization_id:
            raise NotFound(f"No API key with id {key_id!r} exists in this organization.")
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            _end_dashboard_sessions(session, key.id)
            audit.record(
                session,
                organization_id=key.organization_id,
                action="api_key.revoked",
                actor_key_id=principal.key_id,
                target_type="api_key",
                target_id=key.id,
                data={"name": key.name},
            )
        return _out(key)


def _end_dashboard_sessions(session: Session, key_id: str) -> int:
    result = session.execute(delete(DashboardSession).where(DashboardSession.key_id == key_id))
    return int(getattr(result, "rowcount", 0) or 0)


def end_dashboard_sessions(db: Database, principal: Principal, key_id: str) -> tuple[ApiKeyOut, int]:
    """Sign a key out of the dashboard everywhere: every session of it ends now (the key keeps
    working). Recorded as ``api_key.sessions_ended`` with the number of sessions ended."""
    with db.write() as session:
        key = session.get(ApiKey, key_id) if is_valid(key_id, "api_key") else None
        if key is None or key.organization_id != principal.organization_id:
            raise NotFound(f"No API key with id {key_id!r} exists in this organization.")
        ended = _end_dashboard_sessions(session, key.id)
        audit.record(
            session,
            organization_id=key.organization_id,
            action="api_key.sessions_ended",
            actor_key_id=principal.key_id,
            target_type="api_key",
            target_id=key.id,
            data={"name": key.name, "sessions": ended},
        )
        return _out(key), ended


def list_audit_events(db: Database, principal: Principal, limit: int, cursor: str | None) -> Page[AuditEventOut]:
    """Newest first."""
    query = select(AuditEvent).where(AuditEvent.organization_id == principal.organization_id)
    with db.read() as session:
        rows, next_cursor = page_by_id(session, query, AuditEvent.id, limit, cursor, newest_first=True)
    return Page(
        data=[
            AuditEventOut(
                id=e.id,
                action=e.action,
                actor_key_id=e.actor_key_id,
                target_type=e.target_type,
                target_id=e.target_id,
                data=e.data,
                request_id=e.request_id,
                created_at=e.created_at,
            )
            for e in rows
        ],
        next_cursor=next_cursor,
    )


def bootstrap_key(
    db: Database, organization_name: str, role: str = "owner", name: str = "bootstrap"
) -> tuple[str, str]:
    """Create the organization if missing and a key for it: ``(organization_id, secret)``."""
    with db.write() as session:
        org = session.scalar(select(Organization).where(Organization.name == organization_name))
        if org is None:
            org = Organization(id=new_id("organization"), name=organization_name, created_at=utcnow())
            session.add(org)
            session.flush()
        _key, secret = _insert_key(session, org.id, name, role, ROLE_SCOPES[role], None)
        return org.id, secret
