"""Where a host's busy time comes from: confirmed bookings, live holds, and blocks pulled from
the calendars the host linked. The engine takes them all as plain intervals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, cast

import msgspec
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CompoundSelect,
    String,
    Table,
    bindparam,
    literal_column,
    null,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.engine import Connection as SQLConnection
from sqlalchemy.orm import Session

from hub.clock import utcnow
from hub.connectors import event_item
from hub.db.tables import BookingEvent, BookingHost, Calendar, Connection, ExternalEvent, Hold, HoldHost
from hub.db.types import UTCDateTime, epoch_seconds


class BusyBlock(msgspec.Struct, frozen=True):
    start: int  # epoch seconds, UTC
    end: int
    source: str  # "booking", "hold" or a provider slug
    ref: str | None = None  # the booking or hold id, or for a linked calendar's block the provider's event id
    expires_at: datetime | None = None  # when a hold stops blocking
    calendar_id: str | None = None  # the linked calendar (``cal_...``) of a provider's block
    item: str | None = None  # the provider object the block was read from (``BusyChange.item``)

    def as_interval(self) -> tuple[int, int]:
        return (self.start, self.end)


def epoch(value: datetime) -> int:
    return int(value.timestamp())


def from_epoch(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)


# Built once, over the tables' columns (plain rows, no ORM loading), and executed with
# parameters: the busy-time queries run on every booking and every availability request. They
# read each block's times as epoch seconds (``epoch_seconds``), the engine's unit.
# A host's bookings are their ``booking_hosts`` rows (every booking they host, team bookings
# included), which mirror the booking's times and status: one query on (host_id, start_at).
# No booking lasts longer than ``LONGEST_BOOKING`` (``hub.bookings.service`` refuses it), so one
# that overlaps the window starts less than that before it: the lower bound keeps the index range
# to the window, where without it every booking the host ever had before the window was read.
LONGEST_BOOKING = timedelta(hours=24)
_hosting, _events = cast(Table, BookingHost.__table__), cast(Table, ExternalEvent.__table__)
_calendars, _connections = cast(Table, Calendar.__table__), cast(Table, Connection.__table__)
_holds, _hold_hosts = cast(Table, Hold.__table__), cast(Table, HoldHost.__table__)
_NO_TIME, _NO_TEXT = type_coerce(null(), UTCDateTime()), type_coerce(null(), String())
_NO_EPOCH = type_coerce(null(), BigInteger())


def _times(table: Table) -> tuple[epoch_seconds, epoch_seconds]:
    """A source's ``start_at`` and ``end_at`` as epoch seconds."""
    return epoch_seconds(table.c.start_at), epoch_seconds(table.c.end_at)


def _in_window(table: Table, host: ColumnElement[str]) -> tuple[ColumnElement[bool], ...]:
    """A row of one of the hosts (``host_ids``) whose time overlaps the window (``start``, ``end``)."""
    return (
        host.in_(bindparam("host_ids", expanding=True)),
        table.c.start_at < bindparam("end"),
        table.c.end_at > bindparam("start"),
    )


def _busy_union(*, details: bool) -> CompoundSelect[*tuple[Any, ...]]:
    """One query for every source (a UNION ALL: one statement per busy lookup), over a list of
    hosts (``host_ids``, expanding), answering the host of every row: it serves one host or a
    whole team. Each row is (host, start, end), and with ``details`` then (source, ref,
    expires_at, calendar_id, item) as in ``BusyBlock``; without, then a hold's ``expires_at`` as
    epoch seconds (NULL for the other sources)."""

    def row(
        host: ColumnElement[str], times: Table, *extra: ColumnElement[Any], expiry: ColumnElement[Any] = _NO_EPOCH
    ) -> tuple[ColumnElement[Any], ...]:
        return (host, *_times(times), *(extra if details else (expiry,)))

    return union_all(
        select(
            *row(
                _hosting.c.host_id,
                _hosting,
                literal_column("'booking'", String),
                _hosting.c.booking_id,
                _NO_TIME,
                _NO_TEXT,
                _NO_TEXT,
            )
        ).where(
            *_in_window(_hosting, _hosting.c.host_id),
            _hosting.c.start_at > bindparam("booked_after"),
            _hosting.c.status == "confirmed",
        ),
        # Live holds only: expiry is decided here, by ``expires_at`` against the caller's "now", so
        # a hold stops blocking the moment it expires whether or not the tidy job has marked it.
        # A hold blocks each of its hosts (``hold_hosts``).
        select(
            *row(
                _hold_hosts.c.host_id,
                _holds,
                literal_column("'hold'", String),
                _holds.c.id,
                _holds.c.expires_at,
                _NO_TEXT,
                _NO_TEXT,
                expiry=epoch_seconds(_holds.c.expires_at),
            )
        )
        .join(_hold_hosts, _hold_hosts.c.hold_id == _holds.c.id)
        .where(
            *_in_window(_holds, _hold_hosts.c.host_id),
            _holds.c.status == "active",
            _holds.c.expires_at > bindparam("now"),
        ),
        # Events of the busy-source calendars of connections that are not unlinked.
        select(
            *row(
                _events.c.user_id,
                _events,
                _connections.c.provider,
                _events.c.provider_event_id,
                _NO_TIME,
                _events.c.calendar_id,
                _events.c.item,
            )
        )
        .join(_calendars, _calendars.c.id == _events.c.calendar_id)
        .join(_connections, _connections.c.id == _calendars.c.connection_id)
        .where(
            *_in_window(_events, _events.c.user_id),
            _calendars.c.busy_source.is_(True),
            _calendars.c.removed_at.is_(None),
            _connections.c.status != "revoked",
        ),
    )


_BUSY = _busy_union(details=True)
# Only the times, for availability: it needs nothing else of a block, and reading fewer columns
# (none decoded) is a good part of what an availability request costs.
_BUSY_TIMES = _busy_union(details=False)
_booking_events = cast(Table, BookingEvent.__table__)
_WRITTEN = select(_booking_events.c.calendar_id, _booking_events.c.provider_event_id).where(
    _booking_events.c.booking_id == bindparam("booking_id"), _booking_events.c.status == "written"
)


def busy_blocks(
    session: Session, host_id: str, start: datetime, end: datetime, *, now: datetime | None = None
) -> list[BusyBlock]:
    """Every busy block of ``host_id`` that overlaps ``[start, end)``: confirmed bookings, holds
    live at ``now`` (default: the clock's now), and events of busy-source calendars of the
    host's connections that are not unlinked (a connection needing reauthorization still
    contributes what it last synced)."""
    parameters = _parameters([host_id], start, end, now or utcnow())
    return [BusyBlock(*row[1:]) for row in session.execute(_BUSY, parameters)]


class BusyTimes(NamedTuple):
    times: dict[str, list[tuple[int, int]]]  # host -> its blocks' (start, end), epoch seconds
    # The earliest ``expires_at`` of the holds read, in whole epoch seconds: from then on the
    # same query may answer less (a hold stops blocking when it expires, with no write).
    first_expiry: int | None


def busy_times_for(
    connection: Session | SQLConnection, host_ids: Sequence[str], start: datetime, end: datetime, *, now: datetime
) -> BusyTimes:
    """The times of ``busy_blocks`` of several hosts at once, in one query, as ``(start, end)``
    epoch seconds: every host of ``host_ids`` maps to its blocks' times (an empty list for a
    host with none)."""
    hosts = list(dict.fromkeys(host_ids))
    times: dict[str, list[tuple[int, int]]] = {host_id: [] for host_id in hosts}
    expiries: list[int] = []
    for host_id, s, e, expires in connection.execute(_BUSY_TIMES, _parameters(hosts, start, end, now)).all():
        times[host_id].append((s, e))
        if expires is not None:
            expiries.append(expires)
    return BusyTimes(times, min(expiries, default=None))


def _parameters(host_ids: list[str], start: datetime, end: datetime, now: datetime) -> dict[str, Any]:
    return {"host_ids": host_ids, "start": start, "end": end, "booked_after": start - LONGEST_BOOKING, "now": now}


def own_blocks_removed(session: Session, blocks: list[BusyBlock], booking_id: str) -> list[BusyBlock]:
    """``blocks`` without the booking's own time: the booking itself, and the events Hub wrote
    for it into the host's calendars (read back by the sync as busy blocks: by the event id, or
    by the object it names where the id carries a version, ``hub.connectors.event_item``)."""
    written = {
        (calendar_id, event_id)
        for calendar_id, event_id in session.execute(_WRITTEN, {"booking_id": booking_id})
        if event_id is not None
    }
    items = {(calendar_id, event_item(event_id)) for calendar_id, event_id in written}
    return [
        b
        for b in blocks
        if not (b.source == "booking" and b.ref == booking_id)
        and (b.calendar_id, b.ref) not in written
        and (b.item is None or (b.calendar_id, b.item) not in items)
    ]
