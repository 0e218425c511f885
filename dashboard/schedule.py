"""A user's schedule as support staff see it: the upcoming confirmed bookings the user hosts
(team bookings included, with the other hosts named) and the holds that block the user's time
now, in time order. A hold shows only while it is live (the same rule as everywhere:
``active`` and ``expires_at`` in the future). An occurrence of a recurring booking names its
series and its place in it ("3 of 10": the series' planned occurrences, skipped ones included)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.db import Database
from hub.db.tables import Booking, BookingHost, BookingSeries, Hold, HoldHost, User

SCHEDULE_SHOWN = 20


class SeriesPlace(msgspec.Struct, frozen=True):
    """An occurrence's place in its series: ``number`` (from 1) of ``total`` planned."""

    series_id: str
    number: int
    total: int


class ScheduleEntry(msgspec.Struct, frozen=True):
    kind: Literal["booking", "hold"]
    id: str
    start: datetime
    end: datetime
    title: str
    expires_at: datetime | None = None
    other_hosts: tuple[str, ...] = ()  # the names of a team booking's or hold's other hosts
    external_change: str | None = None  # "deleted" / "moved": the host changed the booking's event
    series: SeriesPlace | None = None  # the booking is an occurrence of a recurring booking


def _place(series_id: str | None, index: int | None, starts: list[str] | None) -> SeriesPlace | None:
    if series_id is None or index is None:
        return None
    return SeriesPlace(series_id, index + 1, len(starts or ()) or index + 1)


def schedule(db: Database, organization_id: str, user_id: str, now: datetime) -> list[ScheduleEntry]:
    """The user's next bookings and live holds that have not ended, soonest first."""
    with db.read() as session:
        bookings = session.execute(
            select(
                Booking.id,
                Booking.start_at,
                Booking.end_at,
                Booking.title,
                Booking.external_change,
                Booking.series_id,
                Booking.occurrence_index,
                BookingSeries.starts,
            )
            .join(BookingHost, BookingHost.booking_id == Booking.id)
            .outerjoin(BookingSeries, BookingSeries.id == Booking.series_id)
            .where(
                Booking.organization_id == organization_id,
                BookingHost.host_id == user_id,
                BookingHost.status == "confirmed",
                BookingHost.end_at > now,
            )
            .order_by(Booking.start_at)
            .limit(SCHEDULE_SHOWN)
        ).all()
        holds = session.execute(
            select(Hold.id, Hold.start_at, Hold.end_at, Hold.expires_at)
            .join(HoldHost, HoldHost.hold_id == Hold.id)
            .where(
                Hold.organization_id == organization_id,
                HoldHost.host_id == user_id,
                Hold.status == "active",
                Hold.expires_at > now,
                Hold.end_at > now,
            )
            .order_by(Hold.start_at)
            .limit(SCHEDULE_SHOWN)
        ).all()
        others = _other_hosts(session, user_id, [row[0] for row in bookings], [row[0] for row in holds])
    entries = [
        ScheduleEntry(
            "booking",
            i,
            s,
            e,
            t,
            other_hosts=others.get(i, ()),
            external_change=(x or {}).get("kind"),
            series=_place(series_id, index, starts),
        )
        for i, s, e, t, x, series_id, index, starts in bookings
    ]
    entries += [ScheduleEntry("hold", i, s, e, "", x, others.get(i, ())) for i, s, e, x in holds]
    return sorted(entries, key=lambda entry: (entry.start, entry.id))[:SCHEDULE_SHOWN]


def _other_hosts(
    session: Session, user_id: str, booking_ids: list[str], hold_ids: list[str]
) -> dict[str, tuple[str, ...]]:
    """For each booking and hold, the names of its hosts other than ``user_id``, in host order."""
    found: dict[str, list[str]] = {}
    for owner, host, position, ids in (
        (BookingHost.booking_id, BookingHost.host_id, BookingHost.position, booking_ids),
        (HoldHost.hold_id, HoldHost.host_id, HoldHost.position, hold_ids),
    ):
        if not ids:
            continue
        rows = session.execute(
            select(owner, User.name)
            .join(User, User.id == host)
            .where(owner.in_(ids), host != user_id)
            .order_by(owner, position)
        )
        for item_id, name in rows:
            found.setdefault(item_id, []).append(name)
    return {k: tuple(v) for k, v in found.items()}
