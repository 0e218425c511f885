"""Connections: reading them, choosing calendars, asking for a sync, unlinking, and the health
fields support staff read (status, last sync, last success, last error, failure streak)."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

import msgspec
import redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.auth import audit
from hub.auth.principal import Principal
from hub.bookings.outbox import emit
from hub.clock import utcnow
from hub.connections._requests import request_subscribe, request_sync, request_unlink
from hub.connections.schemas import (
    CalendarOut,
    CalendarUpdate,
    ConnectionOut,
    LastError,
    PushState,
    SyncRequested,
)
from hub.db import Database
from hub.db.tables import Calendar, Connection, PushChannel
from hub.errors import Conflict, NotFound, ServiceUnavailable
from hub.ids import is_valid
from hub.pagination import Page, page_by_id
from hub.statuses import ConnectionStatus, PushStateName

EXPIRING_WITHIN = timedelta(hours=6)


def to_out(session: Session, connection: Connection) -> ConnectionOut:
    calendars = list(
        session.scalars(
            select(Calendar)
            .where(Calendar.connection_id == connection.id, Calendar.removed_at.is_(None))
            .order_by(Calendar.primary.desc(), Calendar.name)
        )
    )
    expiry = session.scalar(
        select(PushChannel.expires_at)
        .where(PushChannel.connection_id == connection.id, PushChannel.status == "active")
        .order_by(PushChannel.expires_at)
        .limit(1)
    )
    push_state: PushStateName = (
        "none" if expiry is None else ("expiring" if expiry - utcnow() < EXPIRING_WITHIN else "active")
    )
    last_error = None
    if connection.last_error_code and connection.last_error_at:
        last_error = LastError(
            connection.last_error_code,
            connection.last_error_message or "",
            connection.last_error_at,
            connection.last_error_provider_code,
        )
    return ConnectionOut(
        id=connection.id,
        user_id=connection.user_id,
        provider=connection.provider,
        account_email=connection.account_email,
        status=connection.status,
        last_synced_at=connection.last_synced_at,
        last_success_at=connection.last_success_at,
        last_error=last_error,
        consecutive_failures=connection.consecutive_failures,
        calendars=[
            CalendarOut(c.id, c.provider_calendar_id, c.name, c.timezone, c.primary, c.busy_source, c.booking_target)
            for c in calendars
        ],
        push=PushState(push_state, expiry),
        created_at=connection.created_at,
        updated_at=connection.updated_at,
        revoked_at=connection.revoked_at,
    )


def load(session: Session, organization_id: str, connection_id: str) -> Connection:
    connection = session.get(Connection, connection_id) if is_valid(connection_id, "connection") else None
    if connection is None or connection.organization_id != organization_id:
        raise NotFound(f"No connection with id {connection_id!r} exists in this organization.")
    return connection


def get_connection(db: Database, principal: Principal, connection_id: str) -> ConnectionOut:
    with db.read() as session:
        return to_out(session, load(session, principal.organization_id, connection_id))


def list_connections(
    db: Database, principal: Principal, *, user_id: str | None, limit: int, cursor: str | None
) -> Page[ConnectionOut]:
    query = select(Connection).where(Connection.organization_id == principal.organization_id)
    if user_id is not None:
        query = query.where(Connection.user_id == user_id)
    with db.read() as session:
        rows, next_cursor = page_by_id(session, query, Connection.id, limit, cursor)
        data = [to_out(session, c) for c in rows]
    return Page(data=data, next_cursor=next_cursor)


def update_calendar(
    db: Database,
    redis_client: redis.Redis,
    principal: Principal,
    connection_id: str,
    calendar_id: str,
    data: CalendarUpdate,
) -> ConnectionOut:
    with db.write() as session:
        connection = load(session, principal.organization_id, connection_id)
        calendar = session.get(Calendar, calendar_id) if is_valid(calendar_id, "calendar") else None
        if calendar is None or calendar.connection_id != connection.id or calendar.removed_at is not None:
            raise NotFound(f"No calendar with id {calendar_id!r} in connection {connection_id}.")
        turned_on = data.busy_source is True and not calendar.busy_source
        if data.busy_source is not msgspec.UNSET:
            calendar.busy_source = data.busy_source
        if data.booking_target is not msgspec.UNSET:
            if data.booking_target:
                session.execute(
                    update(Calendar).where(Calendar.connection_id == connection.id).values(booking_target=False)
                )
            calendar.booking_target = data.booking_target
        connection.updated_at = utcnow()
        out = to_out(session, connection)
    if turned_on:
        with contextlib.suppress(redis.RedisError):  # the calendar sweep syncs and subscribes it later
            request_sync(redis_client, calendar.id, "manual")
            request_subscribe(redis_client, calendar.id)
    return out


def request_connection_sync(
    db: Database, redis_client: redis.Redis, principal: Principal, connection_id: str
) -> SyncRequested:
    with db.read() as session:
        connection = load(session, principal.organization_id, connection_id)
        if connection.status == "revoked":
            raise Conflict(
                "This connection was unlinked; link the account again to sync it.",
                code="connection_revoked",
                title="Connection revoked",
            )
        ids = list(
            session.scalars(
                select(Calendar.id).where(
                    Calendar.connection_id == connection.id,
                    Calendar.busy_source.is_(True),
                    Calendar.removed_at.is_(None),
                )
            )
        )
    try:
        for calendar_id in ids:
            request_sync(redis_client, calendar_id, "manual")
    except redis.RedisError:
        raise ServiceUnavailable("The job queue is unreachable right now; retry in a minute.") from None
    return SyncRequested(connection_id=connection_id, calendars=ids)


def unlink(db: Database, redis_client: redis.Redis, principal: Principal, connection_id: str) -> ConnectionOut:
    """Mark revoked at once (no more syncs or writes); stopping push and revoking the grant at
    the provider happen in a job. History (sync runs, events written) is kept."""
    with db.write() as session:
        connection = load(session, principal.organization_id, connection_id)
        if connection.status != "revoked":
            now = utcnow()
            connection.status = "revoked"
            connection.revoked_at = now
            connection.updated_at = now
            audit.record(
                session,
                organization_id=connection.organization_id,
                action="connection.revoked",
                actor_key_id=principal.key_id,
                target_type="connection",
                target_id=connection.id,
                data={"provider": connection.provider, "account_email": connection.account_email},
            )
        out = to_out(session, connection)
    with contextlib.suppress(redis.RedisError):  # the unlink sweep retries it
        request_unlink(redis_client, connection_id)
    return out


# --- health, written by the jobs ------------------------------------------------------------


def record_success(session: Session, connection: Connection, when: datetime) -> None:
    # Tell the client when a link first works and when it works again after failing.
    was_unhealthy = (
        connection.status != "active" or connection.consecutive_failures > 0 or connection.last_success_at is None
    )
    connection.last_synced_at = when
    connection.last_success_at = when
    connection.consecutive_failures = 0
    connection.last_error_code = None
    connection.last_error_provider_code = None
    connection.last_error_message = None
    connection.last_error_at = None
    if connection.status == "error":
        connection.status = "active"
    connection.updated_at = when
    if was_unhealthy:
        _emit(session, connection, "connection.synced")


def record_failure(
    session: Session,
    connection: Connection,
    when: datetime,
    *,
    code: str,
    message: str,
    status: ConnectionStatus | None = None,
    provider_code: str | None = None,
) -> None:
    connection.last_synced_at = when
    connection.last_error_code = code
    connection.last_error_provider_code = provider_code
    connection.last_error_message = message[:2000]
    connection.last_error_at = when
    connection.consecutive_failures += 1
    connection.updated_at = when
    if status is not None and connection.status != "revoked" and connection.status != status:
        connection.status = status
        if status == "reauth_required":
            _emit(session, connection, "connection.reauth_required")


def _emit(session: Session, connection: Connection, event_type: str) -> None:
    """A client webhook carrying the connection object, exactly as the API shows it."""
    session.flush()
    payload = to_out(session, connection)
    emit(
        session,
        organization_id=connection.organization_id,
        event_type=event_type,
        aggregate_type="connection",
        aggregate_id=connection.id,
        payload=payload,
    )
