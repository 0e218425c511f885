"""A user's schedule as support staff see it: the upcoming confirmed bookings and the holds that
block time now, in time order. A hold shows only while it is live (the same rule as everywhere:
``active`` and ``expires_at`` in the future)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec
from sqlalchemy import select

from hub.db import Database
from hub.db.tables import Booking, Hold

SCHEDULE_SHOWN = 20


class ScheduleEntry(msgspec.Struct, frozen=True):
    kind: Literal["booking", "hold"]
    id: str
    start: datetime
    end: datetime
    title: str
    expires_at: datetime | None = None
    external_change: str | None = None  # "deleted" / "moved": the host changed the booking's event


def schedule(db: Database, organization_id: str, user_id: str, now: datetime) -> list[ScheduleEntry]:
    """The user's next bookings and live holds that have not ended, soonest first."""
    with db.read() as session:
        bookings = session.execute(
            select(Booking.id, Booking.start_at, Booking.end_at, Booking.title, Booking.external_change)
            .where(
                Booking.organization_id == organization_id,
                Booking.host_id == user_id,
                Booking.status == "confirmed",
                Booking.end_at > now,
            )
            .order_by(Booking.start_at)
            .limit(SCHEDULE_SHOWN)
        ).all()
        holds = session.execute(
            select(Hold.id, Hold.start_at, Hold.end_at, Hold.expires_at)
            .where(
                Hold.organization_id == organization_id,
                Hold.host_id == user_id,
                Hold.status == "active",
                Hold.expires_at > now,
                Hold.end_at > now,
            )
            .order_by(Hold.start_at)
            .limit(SCHEDULE_SHOWN)
        ).all()
    entries = [
        ScheduleEntry("booking", i, s, e, t, external_change=(x or {}).get("kind")) for i, s, e, t, x in bookings
    ]
    entries += [ScheduleEntry("hold", i, s, e, "", x) for i, s, e, x in holds]
    return sorted(entries, key=lambda entry: (entry.start, entry.id))[:SCHEDULE_SHOWN]
