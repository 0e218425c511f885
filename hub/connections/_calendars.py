"""The account's calendars: listed from the provider and kept in ``calendars``; on a first
link the primary calendar is busy source and booking target."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.clock import utcnow
from hub.connections._access import credentials, fail, part, usable
from hub.connectors import ProviderCalendar
from hub.db.tables import Calendar, Connection
from hub.errors import PermanentError, ReauthRequired
from hub.ids import new_id
from hub.jobs.context import JobContext


def refresh_calendars(ctx: JobContext, connection_id: str) -> list[str]:
    """List the account's calendars; the primary one is busy source and booking target by default.
    Returns the ids of the busy-source calendars."""
    with ctx.db.read() as session:
        connection = usable(session.get(Connection, connection_id))
    calendars = part(ctx.connectors.get(connection.provider).calendars, "calendars")
    try:
        found = calendars.list_calendars(credentials(ctx, connection))
    except (ReauthRequired, PermanentError) as exc:
        fail(ctx, connection_id, exc)
        raise
    with ctx.db.write() as session:
        return store_calendars(session, connection_id, found, utcnow())


def store_calendars(session: Session, connection_id: str, found: list[ProviderCalendar], now: datetime) -> list[str]:
    """Keep the listed calendars (new ones added, gone ones marked removed); on a first link
    the primary calendar is busy source and booking target. The busy sources' ids."""
    existing = {
        c.provider_calendar_id: c
        for c in session.scalars(select(Calendar).where(Calendar.connection_id == connection_id))
    }
    first_link = not existing
    for item in found:
        calendar = existing.pop(item.provider_calendar_id, None)
        if calendar is None:
            calendar = Calendar(
                id=new_id("calendar"),
                connection_id=connection_id,
                provider_calendar_id=item.provider_calendar_id,
                busy_source=item.primary,
                booking_target=item.primary and item.writable and first_link,
                created_at=now,
                sync_cursor=None,
                last_full_sync_at=None,
            )
            session.add(calendar)
        calendar.name, calendar.timezone, calendar.primary, calendar.removed_at = (
            item.name,
            item.timezone,
            item.primary,
            None,
        )
        calendar.conferencing = list(item.conferencing)
    for gone in existing.values():
        gone.removed_at = gone.removed_at or now
        gone.busy_source = gone.booking_target = False
    session.flush()
    return list(
        session.scalars(
            select(Calendar.id).where(
                Calendar.connection_id == connection_id,
                Calendar.busy_source.is_(True),
                Calendar.removed_at.is_(None),
            )
        )
    )
