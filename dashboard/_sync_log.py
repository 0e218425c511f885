"""The sync log query: one organization's sync runs, newest first, one keyset page at a time.

Pages are cut by ``(started_at, id)`` (never ``OFFSET``): the query walks ``ix_sync_runs_started``
backwards from the cursor (or ``ix_sync_runs_connection`` for one connection), so the thousandth
page costs what the first does. Ties on ``started_at`` are broken by id.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy import Select, and_, or_, select

from hub.db import Database
from hub.db.tables import Connection, SyncRun
from hub.pagination import decode_time_cursor, encode_time_cursor

SYNC_PAGE = 50
OUTCOMES = ("succeeded", "failed", "running", "skipped")


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
    booking_changes: list[dict[str, str]] = []  # [{"booking_id", "kind"}] found in Hub's own events


class SyncPage(msgspec.Struct, frozen=True):
    rows: list[SyncRunRow]
    next_cursor: str | None


def sync_runs_statement(
    organization_id: str, where: SyncFilter, after: tuple[datetime, str] | None, limit: int
) -> Select[SyncRun]:
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
    after = decode_time_cursor(cursor) if cursor else None
    with db.read() as session:
        runs = list(session.scalars(sync_runs_statement(organization_id, where, after, limit)))
        ids = {run.connection_id for run in runs[:limit]}
        emails = (
            dict(session.execute(select(Connection.id, Connection.account_email).where(Connection.id.in_(ids))).all())
            if ids
            else {}
        )
    rows = [
        SyncRunRow(
            id=r.id,
            connection_id=r.connection_id,
            account_email=emails.get(r.connection_id),
            calendar_id=r.calendar_id,
            provider=r.provider,
            trigger=r.trigger,
            full=r.full,
            outcome=r.outcome,
            events_upserted=r.events_upserted,
            events_deleted=r.events_deleted,
            error_code=r.error_code,
            error_detail=r.error_detail,
            started_at=r.started_at,
            finished_at=r.finished_at,
            duration_ms=r.duration_ms,
            booking_changes=list(r.booking_changes or []),
        )
        for r in runs[:limit]
    ]
    next_cursor = None
    if len(runs) > limit:
        last = runs[limit - 1]
        next_cursor = encode_time_cursor(last.started_at, last.id)
    return SyncPage(rows=rows, next_cursor=next_cursor)
