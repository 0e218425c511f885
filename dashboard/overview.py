"""The organization's own figures for the overview page, straight from the database.

Bookings created and cancelled, sync runs by outcome, provider notifications by provider and
state (with duplicates), client webhook deliveries by state, each over a window; and hourly
series for the last 24 hours (bookings created; sync runs succeeded and failed).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.sql import ColumnElement

from hub.db import Database
from hub.db.tables import Booking, Connection, InboundNotification, SyncRun, WebhookDelivery

HOURS = 24


class OrgFigures(msgspec.Struct, frozen=True):
    bookings_created: int
    bookings_cancelled: int
    sync: dict[str, int]
    intake: dict[str, dict[str, int]]  # provider -> status -> count
    duplicates: dict[str, int]  # provider -> duplicate notifications
    deliveries: dict[str, int]

    @property
    def sync_failure_rate(self) -> float | None:
        done = self.sync.get("succeeded", 0) + self.sync.get("failed", 0)
        return self.sync.get("failed", 0) / done if done else None


class Hourly(msgspec.Struct, frozen=True):
    start: datetime  # the first hour shown (UTC)
    bookings: list[int]
    sync_succeeded: list[int]
    sync_failed: list[int]


def org_figures(db: Database, organization_id: str, since: datetime) -> OrgFigures:
    with db.read() as session:
        created = (
            session.scalar(
                select(func.count())
                .select_from(Booking)
                .where(Booking.organization_id == organization_id, Booking.created_at >= since)
            )
            or 0
        )
        cancelled = (
            session.scalar(
                select(func.count())
                .select_from(Booking)
                .where(Booking.organization_id == organization_id, Booking.cancelled_at >= since)
            )
            or 0
        )
        sync = session.execute(
            select(SyncRun.outcome, func.count())
            .where(SyncRun.organization_id == organization_id, SyncRun.started_at >= since)
            .group_by(SyncRun.outcome)
        ).all()
        inbox = session.execute(
            select(
                InboundNotification.provider,
                InboundNotification.status,
                func.count(),
                func.coalesce(func.sum(InboundNotification.duplicates), 0),
            )
            .join(Connection, Connection.id == InboundNotification.connection_id)
            .where(Connection.organization_id == organization_id, InboundNotification.received_at >= since)
            .group_by(InboundNotification.provider, InboundNotification.status)
        ).all()
        deliveries = session.execute(
            select(WebhookDelivery.status, func.count())
            .where(WebhookDelivery.organization_id == organization_id, WebhookDelivery.created_at >= since)
            .group_by(WebhookDelivery.status)
        ).all()
    intake: dict[str, dict[str, int]] = {}
    duplicates: dict[str, int] = {}
    for provider, status, count, dupes in inbox:
        intake.setdefault(provider, {})[status] = int(count)
        duplicates[provider] = duplicates.get(provider, 0) + int(dupes)
    return OrgFigures(
        bookings_created=int(created),
        bookings_cancelled=int(cancelled),
        sync={outcome: int(n) for outcome, n in sync},
        intake=intake,
        duplicates=duplicates,
        deliveries={status: int(n) for status, n in deliveries},
    )


def _hour(db: Database, column: Any) -> ColumnElement[Any]:
    """The UTC hour of ``column``, as the database can group by it."""
    if db.is_sqlite:
        return func.strftime("%Y-%m-%dT%H:00:00", column)
    return func.date_trunc("hour", func.timezone("UTC", column))


def _index(start: datetime, hour: Any) -> int:
    value = datetime.fromisoformat(hour) if isinstance(hour, str) else hour
    return int((value.replace(tzinfo=UTC) - start).total_seconds() // 3600)


def hourly(db: Database, organization_id: str, now: datetime) -> Hourly:
    """Per-hour counts for the last 24 hours, the current (partial) hour last."""
    start = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
    booking_hour = _hour(db, Booking.created_at)
    run_hour = _hour(db, SyncRun.started_at)
    with db.read() as session:
        bookings = session.execute(
            select(booking_hour, func.count())
            .where(Booking.organization_id == organization_id, Booking.created_at >= start)
            .group_by(booking_hour)
        ).all()
        runs = session.execute(
            select(run_hour, SyncRun.outcome, func.count())
            .where(
                SyncRun.organization_id == organization_id,
                SyncRun.started_at >= start,
                SyncRun.outcome.in_(("succeeded", "failed")),
            )
            .group_by(run_hour, SyncRun.outcome)
        ).all()
    series = {"bookings": [0] * HOURS, "succeeded": [0] * HOURS, "failed": [0] * HOURS}
    for hour, count in bookings:
        index = _index(start, hour)
        if 0 <= index < HOURS:
            series["bookings"][index] += int(count)
    for hour, outcome, count in runs:
        index = _index(start, hour)
        if 0 <= index < HOURS:
            series[outcome][index] += int(count)
    return Hourly(
        start=start, bookings=series["bookings"], sync_succeeded=series["succeeded"], sync_failed=series["failed"]
    )
