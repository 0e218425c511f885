"""Syncing one calendar's busy time from the provider's change feed.

Every sync writes a ``sync_runs`` row and updates the connection's health. The cursor (sync
token / delta link) is saved in the same transaction as the events it covers, so it is never
ahead of what Hub stored. Transient failures are recorded and raised (the queue retries); a
revoked grant marks the connection ``reauth_required`` and tells the client once.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import structlog
from rq import get_current_job
from sqlalchemy import delete, update

from hub.clock import utcnow
from hub.connections._access import credentials, failure_status, part, provider_calendar, usable
from hub.connections._readback import read_back
from hub.connections.service import record_failure, record_success
from hub.connectors import ChangeBatch, ResyncRequired
from hub.db.tables import Calendar, Connection, ExternalEvent, SyncRun, User
from hub.errors import PipelineError, SkippableError
from hub.ids import new_id
from hub.jobs.context import JobContext
from hub.observability.tracing import current_trace_id
from hub.statuses import SyncTrigger

log = structlog.get_logger("hub.connections")

FULL_SYNC_EVERY = timedelta(days=7)


def sync_calendar(ctx: JobContext, calendar_id: str, trigger: SyncTrigger) -> dict[str, Any]:
    with ctx.db.read() as session:
        calendar = session.get(Calendar, calendar_id)
        if calendar is None or calendar.removed_at is not None or not calendar.busy_source:
            raise SkippableError("the calendar is no longer a busy source", code="calendar_not_synced")
        connection = usable(session.get(Connection, calendar.connection_id))
        owner = session.get(User, connection.user_id)
    zone = owner.timezone if owner is not None else None
    feed = part(ctx.connectors.get(connection.provider).feed, "change_feed")
    job = get_current_job()
    run = SyncRun(
        id=new_id("sync_run"),
        organization_id=connection.organization_id,
        connection_id=connection.id,
        calendar_id=calendar.id,
        provider=connection.provider,
        trigger=trigger,
        full=calendar.sync_cursor is None,
        outcome="running",
        events_upserted=0,
        events_deleted=0,
        job_id=job.id if job else None,
        started_at=utcnow(),
        trace_id=current_trace_id(),
    )
    with ctx.db.write() as session:
        session.add(run)
    started = time.perf_counter()
    structlog.contextvars.bind_contextvars(
        connection_id=connection.id, provider=connection.provider, sync_run_id=run.id
    )
    stored = credentials(ctx, connection)
    cursor = calendar.sync_cursor
    if trigger == "schedule" and (
        calendar.last_full_sync_at is None or utcnow() - calendar.last_full_sync_at > FULL_SYNC_EVERY
    ):
        cursor = None  # move a provider's fixed sync window (Graph delta) forward now and then
    target = provider_calendar(calendar, zone)
    try:
        try:
            batch = feed.pull(stored, target, cursor)
        except ResyncRequired:
            log.info("sync.resync_required", calendar_id=calendar.id)
            batch = feed.pull(stored, target, None)
        upserted, deleted = _store(ctx, calendar, connection, batch, run.id, started)
    except PipelineError as exc:
        _finish_failed(ctx, run.id, connection.id, exc, started)
        raise
    log.info(
        "sync.completed",
        calendar_id=calendar.id,
        trigger=trigger,
        full=batch.full,
        upserted=upserted,
        deleted=deleted,
        duration_ms=int((time.perf_counter() - started) * 1000),
    )
    return {"sync_run_id": run.id, "full": batch.full, "upserted": upserted, "deleted": deleted}


def _store(
    ctx: JobContext, calendar: Calendar, connection: Connection, batch: ChangeBatch, run_id: str, started: float
) -> tuple[int, int]:
    now = utcnow()
    keep = [c for c in batch.changes if c.busy and c.start is not None and c.end is not None and c.end > c.start]
    drop = [c.provider_event_id for c in batch.changes if c not in keep]
    items = sorted({c.item for c in batch.changes if c.item is not None})  # replaced whole
    with ctx.db.write() as session:
        deleted = 0
        if batch.full:
            result = session.execute(delete(ExternalEvent).where(ExternalEvent.calendar_id == calendar.id))
            deleted = int(result.rowcount or 0)  # type: ignore[attr-defined]
        else:
            for column, ids in ((ExternalEvent.item, items), (ExternalEvent.provider_event_id, drop)):
                for chunk in _chunks(ids, 500):
                    result = session.execute(
                        delete(ExternalEvent).where(ExternalEvent.calendar_id == calendar.id, column.in_(chunk))
                    )
                    deleted += int(result.rowcount or 0)  # type: ignore[attr-defined]
        if keep and not batch.full:
            for chunk in _chunks([c.provider_event_id for c in keep], 500):
                session.execute(
                    delete(ExternalEvent).where(
                        ExternalEvent.calendar_id == calendar.id, ExternalEvent.provider_event_id.in_(chunk)
                    )
                )
        if keep:
            session.add_all(
                [
                    ExternalEvent(
                        calendar_id=calendar.id,
                        user_id=connection.user_id,
                        provider_event_id=c.provider_event_id,
                        item=c.item,
                        start_at=c.start,
                        end_at=c.end,
                        updated_at=now,
                    )
                    for c in {c.provider_event_id: c for c in keep}.values()
                ]
            )
        found = read_back(session, ctx.db, calendar, batch.events, now) if batch.events else []
        session.execute(
            update(Calendar)
            .where(Calendar.id == calendar.id)
            .values(sync_cursor=batch.cursor, **({"last_full_sync_at": now} if batch.full else {}))
        )
        session.execute(
            update(SyncRun)
            .where(SyncRun.id == run_id)
            .values(
                outcome="succeeded",
                full=batch.full,
                events_upserted=len(keep),
                events_deleted=deleted,
                finished_at=now,
                duration_ms=int((time.perf_counter() - started) * 1000),
                booking_changes=found or None,
            )
        )
        live = session.get(Connection, connection.id)
        if live is not None:
            record_success(session, live, now)
    return len(keep), deleted


def _finish_failed(ctx: JobContext, run_id: str, connection_id: str, exc: PipelineError, started: float) -> None:
    now = utcnow()
    with ctx.db.write() as session:
        session.execute(
            update(SyncRun)
            .where(SyncRun.id == run_id)
            .values(
                outcome="failed",
                error_code=exc.code,
                error_provider_code=exc.provider_code,
                error_detail=exc.message[:2000],
                finished_at=now,
                duration_ms=int((time.perf_counter() - started) * 1000),
            )
        )
        connection = session.get(Connection, connection_id)
        if connection is not None:
            record_failure(
                session,
                connection,
                now,
                code=exc.code,
                message=exc.message,
                status=failure_status(exc),
                provider_code=exc.provider_code,
            )


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
