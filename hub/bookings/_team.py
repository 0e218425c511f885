"""The hosts of a booking or hold: which were asked for, their locks, what is in the way of each,
the round-robin choice, and the ``booking_hosts`` rows that mirror a booking for each host.

Every writer of a host's time locks that host first (``lock_hosts``); a booking or hold of
several hosts locks them all, in sorted order, so two writers sharing hosts always queue in the
same order and never deadlock. On SQLite the write transaction already holds the database's
write lock for every host at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, case, func, insert, select, text, update
from sqlalchemy.orm import Session

from hub.availability import conflicts
from hub.availability.busy import BusyBlock, busy_blocks, epoch, from_epoch, own_blocks_removed
from hub.bookings.schemas import Assignment, HostPool
from hub.db import Database
from hub.db.tables import Booking, BookingHost
from hub.errors import Conflict, FieldError
from hub.ids import is_valid
from hub.users.service import HostProfile, load_profiles

LEAST_BOOKED_WINDOW = timedelta(days=30)
# Built once: a Core insert of participation rows, no ORM objects to track and flush.
_INSERT_HOSTS = insert(cast(Table, BookingHost.__table__))

HostBlock = tuple[str, BusyBlock]
"""A busy block in the way, and the host whose time it is."""


def requested_hosts(
    host_id: str | None, host_ids: list[str] | None, host_pool: HostPool | None = None, *, pool: bool = True
) -> tuple[list[str], str]:
    """The host ids asked for, and the field that named them; exactly one way of naming them
    (``pool``: whether ``host_pool`` is one of the ways)."""
    named = [f for f, v in (("host_id", host_id), ("host_ids", host_ids), ("host_pool", host_pool)) if v is not None]
    if len(named) != 1:
        allowed = "`host_id`, `host_ids` and `host_pool`" if pool else "`host_id` and `host_ids`"
        raise FieldError(named[1] if named else "host_id", f"send exactly one of {allowed}")
    if host_id is not None:
        ids, field = [host_id], "host_id"
    elif host_ids is not None:
        ids, field = list(host_ids), "host_ids"
    else:
        ids, field = list(host_pool.user_ids if host_pool is not None else []), "host_pool.user_ids"
    for index, user_id in enumerate(ids):
        if not is_valid(user_id, "user"):
            raise FieldError(field if field == "host_id" else f"{field}[{index}]", "must be a user id (usr_...)")
    if len(set(ids)) != len(ids):
        raise FieldError(field, "names a user more than once")
    return ids, field


def load_hosts(session: Session, organization_id: str, host_ids: Sequence[str]) -> list[HostProfile]:
    """The hosts' profiles, in the order given; another organization's user is a 404 like an
    unknown one."""
    return load_profiles(session, organization_id, host_ids, field="host")


def lock_hosts(session: Session, db: Database, host_ids: Sequence[str]) -> None:
    """Serialize every writer of these hosts' time for the rest of the transaction (PostgreSQL
    advisory locks, taken in sorted order; on SQLite the write transaction already holds the
    database's write lock)."""
    if db.is_sqlite:
        return
    for host_id in sorted(set(host_ids)):
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:host))"), {"host": host_id})


def find_conflicts(
    session: Session,
    host: HostProfile,
    start: datetime,
    end: datetime,
    *,
    now: datetime | None = None,
    moving: str | None = None,
) -> list[BusyBlock]:
    """What is in the way of ``[start, end)`` for ``host``: bookings, holds live at ``now``,
    calendar events. ``moving``: the id of a booking being rescheduled, whose own time (and its
    events in the host's calendars) is not in the way."""
    buffer = timedelta(minutes=host.buffer_minutes)
    blocks = busy_blocks(session, host.id, start - buffer, end + buffer, now=now)
    if moving is not None:
        blocks = own_blocks_removed(session, blocks, moving)
    hits = set(conflicts([b.as_interval() for b in blocks], epoch(start), epoch(end), int(buffer.total_seconds())))
    return [b for b in blocks if b.as_interval() in hits]


def host_conflicts(
    session: Session,
    hosts: Sequence[HostProfile],
    start: datetime,
    end: datetime,
    *,
    now: datetime | None = None,
    moving: str | None = None,
) -> list[HostBlock]:
    """What is in the way for each of ``hosts``, in their order."""
    return [
        (host.id, block)
        for host in hosts
        for block in find_conflicts(session, host, start, end, now=now, moving=moving)
    ]


def _z(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _entry(host_id: str, block: BusyBlock, *, team: bool) -> dict[str, Any]:
    values: tuple[tuple[str, Any], ...] = (
        ("start", _z(from_epoch(block.start))),
        ("end", _z(from_epoch(block.end))),
        ("source", block.source),
        ("booking_id", block.ref if block.source == "booking" else None),
        ("hold_id", block.ref if block.source == "hold" else None),
        ("expires_at", _z(block.expires_at) if block.expires_at else None),
        ("host_id", host_id if team else None),
    )
    return {k: v for k, v in values if v is not None}


def conflict_error(found: Sequence[HostBlock], *, team: bool = False, detail: str | None = None) -> Conflict:
    """``409 booking_conflict`` listing what is in the way; for a booking or hold of several
    hosts (``team``) each entry names the busy host's ``host_id``."""
    sources = ", ".join(sorted({b.source for _, b in found})) or "booking"
    if detail is None:
        busy = sorted({h for h, _ in found})
        who = f"Host {', '.join(busy)} is" if team and len(busy) == 1 else "The hosts are" if team else "The host is"
        detail = f"{who} busy during the requested time ({sources}). Pick another slot from GET /v1/availability."
    return Conflict(
        detail,
        code="booking_conflict",
        title="Booking conflict",
        extra={"conflicts": [_entry(h, b, team=team) for h, b in found]},
    )


def least_booked(
    session: Session, free: Sequence[HostProfile], pool: Sequence[str], start: datetime
) -> tuple[HostProfile, Assignment]:
    """The free host with the fewest confirmed bookings starting in the 30 days before ``start``;
    ties: the host whose latest confirmed booking starting before ``start`` is earliest (none
    first), then the smallest id. Read inside the write transaction, after the pool's locks."""
    recent = func.count(case((BookingHost.start_at >= start - LEAST_BOOKED_WINDOW, 1)))
    rows = session.execute(
        select(BookingHost.host_id, recent, func.max(BookingHost.start_at))
        .where(
            BookingHost.host_id.in_([h.id for h in free]),
            BookingHost.status == "confirmed",
            BookingHost.start_at < start,
        )
        .group_by(BookingHost.host_id)
    )
    seen = {host_id: (int(count), latest) for host_id, count, latest in rows}

    def rank(host: HostProfile) -> tuple[int, bool, datetime, str]:
        count, latest = seen.get(host.id, (0, None))
        return (count, latest is not None, latest or start, host.id)

    ranked = sorted(free, key=rank)
    chosen = ranked[0]
    count, has_latest, latest, _ = rank(chosen)
    reason = f"fewest bookings in the last 30 days: {count}"
    tied = [rank(h) for h in ranked[1:] if rank(h)[0] == count]
    if tied and not has_latest and tied[0][1]:
        reason += "; tie broken: no earlier booking"
    elif tied and (has_latest, latest) != tied[0][1:3]:
        reason += f"; tie broken: latest booking earliest ({_z(latest)})"
    elif tied:
        reason += "; tie broken: smallest id"
    return chosen, Assignment(strategy="least_booked", pool=list(pool), reason=reason)


def add_hosts(session: Session, booking: Booking, host_ids: Sequence[str]) -> None:
    """The booking's ``booking_hosts`` rows (the booking's own row is already written); on
    PostgreSQL the exclusion constraint speaks here, inside the caller's ``try``."""
    session.execute(
        _INSERT_HOSTS,
        [
            {
                "booking_id": booking.id,
                "host_id": host_id,
                "position": position,
                "status": booking.status,
                "start_at": booking.start_at,
                "end_at": booking.end_at,
            }
            for position, host_id in enumerate(host_ids)
        ],
    )


def mirror(session: Session, booking: Booking) -> None:
    """Copy the booking's status and times onto its ``booking_hosts`` rows."""
    session.execute(
        update(BookingHost)
        .where(BookingHost.booking_id == booking.id)
        .values(status=booking.status, start_at=booking.start_at, end_at=booking.end_at)
        .execution_options(synchronize_session=False)
    )


def host_ids_of(session: Session, booking_id: str) -> list[str]:
    return list(
        session.scalars(
            select(BookingHost.host_id).where(BookingHost.booking_id == booking_id).order_by(BookingHost.position)
        )
    )
