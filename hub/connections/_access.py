"""A job's access to one connection: checked usable (or the job is skipped), its stored
credentials, its calendars as connectors see them, the connector parts it needs, and its
failures recorded on the connection's health."""

from __future__ import annotations

from typing import TypeVar

from hub.clock import utcnow
from hub.connections.credentials import StoredCredentials
from hub.connections.service import record_failure
from hub.connectors import Capability, ProviderCalendar, spec
from hub.db.tables import Calendar, Connection
from hub.errors import PermanentError, PipelineError, ReauthRequired, SkippableError
from hub.jobs.context import JobContext
from hub.statuses import ConnectionStatus

T = TypeVar("T")

_PARTS: dict[Capability, str] = {
    "oauth": "account linking",
    "password": "account linking",
    "calendars": "calendar operations",
    "change_feed": "change feed",
    "push": "push notifications",
}


def credentials(ctx: JobContext, connection: Connection) -> StoredCredentials:
    return StoredCredentials(ctx.db, ctx.keyring, connection)


def provider_calendar(calendar: Calendar, fallback_zone: str | None = None) -> ProviderCalendar:
    """The calendar as connectors see it; a calendar without its own zone (Graph calendars have
    none) reads all-day events in the owner's zone."""
    return ProviderCalendar(
        calendar.provider_calendar_id, calendar.name, calendar.primary, calendar.timezone or fallback_zone
    )


def has_push(ctx: JobContext, connection_id: str) -> bool:
    """Whether the connection's provider has push channels to subscribe (else it is polled)."""
    with ctx.db.read() as session:
        connection = session.get(Connection, connection_id)
    return connection is not None and "push" in spec(connection.provider).capabilities


def usable(connection: Connection | None) -> Connection:
    if connection is None:
        raise SkippableError("the connection no longer exists", code="connection_missing")
    if connection.status in ("revoked", "reauth_required"):
        raise SkippableError(f"the connection is {connection.status}", code=f"connection_{connection.status}")
    return connection


def part(value: T | None, capability: Capability) -> T:
    """A connector part the job needs; a provider without it has the job skipped."""
    if value is None:
        raise SkippableError(f"this provider has no {_PARTS[capability]}", code=f"{capability}_unsupported")
    return value


def failure_status(exc: PipelineError) -> ConnectionStatus | None:
    """What a failure makes of the connection: a lost grant needs a new link, a permanent
    failure is an error, anything else leaves the status alone."""
    if isinstance(exc, ReauthRequired):
        return "reauth_required"
    return "error" if isinstance(exc, PermanentError) else None


def fail(ctx: JobContext, connection_id: str, exc: PipelineError) -> None:
    with ctx.db.write() as session:
        connection = session.get(Connection, connection_id)
        if connection is not None:
            record_failure(
                session,
                connection,
                utcnow(),
                code=exc.code,
                message=exc.message,
                status=failure_status(exc),
                provider_code=exc.provider_code,
            )
