"""The dashboard's reads: connections with their health, the sync log, the webhook inbox.

Every query is scoped to one organization. Lists are keyset-paginated (never ``OFFSET``):
connections by id, the sync log by ``(started_at, id)`` newest first, which walks
``ix_sync_runs_started`` (or ``ix_sync_runs_connection`` for one connection) and stays as fast
on the thousandth page as on the first.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy import Select, and_, func, or_, select

from hub.db import Database
from hub.errors import FieldError
from hub.db.tables import Connection, InboundNotification, PushChannel, SyncRun, User, WebhookDelivery
from hub.pagination import decode_cursor, encode_cursor

CONNECTIONS_PAGE = 50
SYNC_PAGE = 50
STATUSES = ("active", "reauth_required", "error", "revoked")
OUTCOMES = ("succeeded", "failed", "running", "skipped")


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


class SyncFilter(msgspec.Struct, frozen=True):
    outcome: str | None = None
    provider: str | None = None
    connection_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class SyncRunRow(msgspec.Struct, frozen=True):
    id: str
    connection_id: str
    account_email: str | None
    calendar_id: str | None
    provider: str
    trigger: str
    full: bool
    outcome: str
    events_upserted: int
    events_deleted: int
    error_code: str | None
    error_detail: str | None
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None


class Listing(msgspec.Struct, frozen=True):
    rows: list[ConnectionRow]
    next_after: str | None


class SyncPage(msgspec.Struct, frozen=True):
    rows: list[SyncRunRow]
    next_cursor: str | None


def _like(text: str) -> str:
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_connections(
    db: Database, organization_id: str, *, status: str | None = None, provider: str | None = None,
    search: str | None = None, after: str | None = None, limit: int = CONNECTIONS_PAGE, attention: bool = False,
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
            or_(func.lower(Connection.account_email).like(pattern, escape="\\"),
                func.lower(User.email).like(pattern, escape="\\"))
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
            id=c.id, provider=c.provider, account_email=c.account_email, status=c.status, user_id=c.user_id,
            user_name=name, user_email=email, last_synced_at=c.last_synced_at, last_success_at=c.last_success_at,
            last_error_code=c.last_error_code, last_error_message=c.last_error_message,
            last_error_at=c.last_error_at, consecutive_failures=c.consecutive_failures, push_expires_at=expiry,
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


def sync_runs_statement(
    organization_id: str, where: SyncFilter, after: tuple[datetime, str] | None, limit: int
) -> Select[tuple[SyncRun]]:
    """The sync log query: newest first, from the position ``after`` (exclusive)."""
    query = select(SyncRun).where(SyncRun.organization_id == organization_id)
    if where.outcome:
        query = query.where(SyncRun.outcome == where.outcome)
    if where.provider:
        query = query.where(SyncRun.provider == where.provider)
    if where.connection_id:
        query = query.where(SyncRun.connection_id == where.connection_id)
    if where.since is not None:
        query = query.where(SyncRun.started_at >= where.since)
    if where.until is not None:
        query = query.where(SyncRun.started_at < where.until)
    if after is not None:
        started, run_id = after
        # "<=" first gives the index a range to start from; the OR only breaks ties.
        query = query.where(
            SyncRun.started_at <= started,
            or_(SyncRun.started_at < started, and_(SyncRun.started_at == started, SyncRun.id < run_id)),
        )
    return query.order_by(SyncRun.started_at.desc(), SyncRun.id.desc()).limit(limit + 1)


def sync_runs(
    db: Database, organization_id: str, where: SyncFilter, cursor: str | None = None, limit: int = SYNC_PAGE
) -> SyncPage:
    """One page of the sync log; ``cursor`` comes from the previous page's ``next_cursor``."""
    after = None
    if cursor:
        started, run_id = decode_cursor(cursor, 2)
        try:
            after = (datetime.fromisoformat(started), run_id)
        except ValueError:
            raise FieldError("cursor", "is not a cursor of the sync log; start again from the newest") from None
    with db.read() as session:
        runs = list(session.scalars(sync_runs_statement(organization_id, where, after, limit)))
        ids = {run.connection_id for run in runs[:limit]}
        emails = dict(
            session.execute(select(Connection.id, Connection.account_email).where(Connection.id.in_(ids))).tuples()
        ) if ids else {}
    rows = [
        SyncRunRow(
            id=r.id, connection_id=r.connection_id, account_email=emails.get(r.connection_id), calendar_id=r.calendar_id,
            provider=r.provider, trigger=r.trigger, full=r.full, outcome=r.outcome, events_upserted=r.events_upserted,
            events_deleted=r.events_deleted, error_code=r.error_code, error_detail=r.error_detail,
            started_at=r.started_at, finished_at=r.finished_at, duration_ms=r.duration_ms,
        )
        for r in runs[:limit]
    ]
    next_cursor = None
    if len(runs) > limit:
        last = runs[limit - 1]
        next_cursor = encode_cursor([last.started_at.isoformat(), last.id])
    return SyncPage(rows=rows, next_cursor=next_cursor)


def notifications(db: Database, connection_id: str, limit: int = 20) -> list[InboundNotification]:
    """The connection's latest inbox rows (the caller has checked the connection's organization)."""
    with db.read() as session:
        return list(session.scalars(
            select(InboundNotification)
            .where(InboundNotification.connection_id == connection_id)
            .order_by(InboundNotification.received_at.desc())
            .limit(limit)
        ))


def push_channels(db: Database, connection_id: str) -> list[PushChannel]:
    with db.read() as session:
        return list(session.scalars(
            select(PushChannel)
            .where(PushChannel.connection_id == connection_id)
            .order_by(PushChannel.status, PushChannel.expires_at.desc())
            .limit(20)
        ))


def user_of(db: Database, user_id: str) -> User | None:
    with db.read() as session:
        return session.get(User, user_id)


def delivery_counts(db: Database, organization_id: str, since: datetime) -> dict[str, dict[str, int]]:
    """Deliveries created since ``since``, by endpoint and state (pending, succeeded, failed)."""
    with db.read() as session:
        found = session.execute(
            select(WebhookDelivery.endpoint_id, WebhookDelivery.status, func.count())
            .where(WebhookDelivery.organization_id == organization_id, WebhookDelivery.created_at >= since)
            .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.status)
        ).tuples().all()
    counts: dict[str, dict[str, int]] = {}
    for endpoint_id, status, count in found:
        counts.setdefault(endpoint_id, {})[status] = int(count)
    return counts
