"""The dashboard's reads: connections with their health, the sync log, the webhook inbox.

Every query is scoped to one organization (the inbox and push channel reads take a connection
the caller has already checked). Lists are keyset-paginated, never ``OFFSET``: connections by
id, the sync log (``dashboard._sync_log``, re-exported here) by ``(started_at, id)``.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy import func, or_, select

from dashboard._sync_log import OUTCOMES, SYNC_PAGE, SyncFilter, SyncPage, SyncRunRow, sync_runs, sync_runs_statement
from hub.db import Database
from hub.db.tables import Connection, InboundNotification, PushChannel, User, WebhookDelivery

__all__ = [
    "CONNECTIONS_PAGE", "OUTCOMES", "STATUSES", "SYNC_PAGE", "ConnectionRow", "Listing", "SyncFilter", "SyncPage",
    "SyncRunRow", "delivery_counts", "list_connections", "notifications", "push_channels", "status_counts",
    "sync_runs", "sync_runs_statement",
]  # fmt: skip

CONNECTIONS_PAGE = 50
STATUSES = ("active", "reauth_required", "error", "revoked")


class ConnectionRow(msgspec.Struct, frozen=True):
    id: str
    provider: str
    account_email: str | None
    status: str
    user_id: str
    user_name: str
    user_email: str
    last_synced_at: datetime | None
    last_success_at: datetime | None
    last_error_code: str | None
    last_error_message: str | None
    last_error_at: datetime | None
    consecutive_failures: int
    push_expires_at: datetime | None


class Listing(msgspec.Struct, frozen=True):
    rows: list[ConnectionRow]
    next_after: str | None


def _like(text: str) -> str:
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_connections(
    db: Database,
    organization_id: str,
    *,
    status: str | None = None,
    provider: str | None = None,
    search: str | None = None,
    after: str | None = None,
    limit: int = CONNECTIONS_PAGE,
    attention: bool = False,
) -> Listing:
    """One page of the organization's connections, oldest first, with the user and push expiry.

    ``attention`` keeps only connections that need someone: reauth required, in error, or failing.
    """
    push_expiry = (
        select(func.min(PushChannel.expires_at))
        .where(PushChannel.connection_id == Connection.id, PushChannel.status == "active")
        .scalar_subquery()
    )
    query = (
        select(Connection, User.name, User.email, push_expiry)
        .join(User, User.id == Connection.user_id)
        .where(Connection.organization_id == organization_id)
    )
    if status:
        query = query.where(Connection.status == status)
    if provider:
        query = query.where(Connection.provider == provider)
    if search and search.strip():
        pattern = _like(search)
        query = query.where(
            or_(
                func.lower(Connection.account_email).like(pattern, escape="\\"),
                func.lower(User.email).like(pattern, escape="\\"),
            )
        )
    if attention:
        query = query.where(
            Connection.status != "revoked",
            or_(Connection.status.in_(("reauth_required", "error")), Connection.consecutive_failures > 0),
        )
    if after:
        query = query.where(Connection.id > after)
    with db.read() as session:
        found = session.execute(query.order_by(Connection.id).limit(limit + 1)).all()
    rows = [
        ConnectionRow(
            id=c.id,
            provider=c.provider,
            account_email=c.account_email,
            status=c.status,
            user_id=c.user_id,
            user_name=name,
            user_email=email,
            last_synced_at=c.last_synced_at,
            last_success_at=c.last_success_at,
            last_error_code=c.last_error_code,
            last_error_message=c.last_error_message,
            last_error_at=c.last_error_at,
            consecutive_failures=c.consecutive_failures,
            push_expires_at=expiry,
        )
        for c, name, email, expiry in found[:limit]
    ]
    return Listing(rows=rows, next_after=rows[-1].id if len(found) > limit else None)


def status_counts(db: Database, organization_id: str) -> dict[str, int]:
    with db.read() as session:
        found = session.execute(
            select(Connection.status, func.count())
            .where(Connection.organization_id == organization_id)
            .group_by(Connection.status)
        ).all()
    return {status: int(count) for status, count in found}


def notifications(db: Database, connection_id: str, limit: int = 20) -> list[InboundNotification]:
    """The connection's latest inbox rows (the caller has checked the connection's organization)."""
    with db.read() as session:
        return list(
            session.scalars(
                select(InboundNotification)
                .where(InboundNotification.connection_id == connection_id)
                .order_by(InboundNotification.received_at.desc())
                .limit(limit)
            )
        )


def push_channels(db: Database, connection_id: str) -> list[PushChannel]:
    with db.read() as session:
        return list(
            session.scalars(
                select(PushChannel)
                .where(PushChannel.connection_id == connection_id)
                .order_by(PushChannel.status, PushChannel.expires_at.desc())
                .limit(20)
            )
        )


def delivery_counts(db: Database, organization_id: str, since: datetime) -> dict[str, dict[str, int]]:
    """Deliveries created since ``since``, by endpoint and state (pending, succeeded, failed)."""
    with db.read() as session:
        found = session.execute(
            select(WebhookDelivery.endpoint_id, WebhookDelivery.status, func.count())
            .where(WebhookDelivery.organization_id == organization_id, WebhookDelivery.created_at >= since)
            .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.status)
        ).all()
    counts: dict[str, dict[str, int]] = {}
    for endpoint_id, status, count in found:
        counts.setdefault(endpoint_id, {})[status] = int(count)
    return counts
