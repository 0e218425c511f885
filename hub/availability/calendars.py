"""How current the linked calendars behind an availability answer are.

Busy time from a linked calendar is what Hub last synced. An answer says, per linked (not
unlinked) connection of the users asked about, whether that copy can be trusted, and warns with a
stable code when it may be wrong:

* ``calendar_reauth_required``: the connection's status is ``reauth_required`` (the grant is
  gone; Hub cannot sync until the user links the account again);
* ``calendar_sync_failing``: otherwise, the last sync failed (``consecutive_failures`` above 0,
  or status ``error``);
* ``calendar_stale``: the connection is *stale*: its last successful sync (or, never synced, its
  linking) is more than ``STALE_AFTER`` ago, and push is off or expired for it, i.e. not every
  busy-source calendar of the connection has an active push channel whose ``expires_at`` is in
  the future. With push on, a quiet calendar is current without syncing; without it (CalDAV
  is always polled) an old sync means changes may be missing. This one comes on top of either
  of the two above.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, cast

import msgspec
from sqlalchemy import Row, Table, bindparam, select
from sqlalchemy.engine import Connection as SQLConnection
from sqlalchemy.orm import Session

from hub.db.tables import Calendar, Connection, PushChannel
from hub.statuses import ConnectionStatus

STALE_AFTER = timedelta(minutes=30)

WarningCode = Literal["calendar_reauth_required", "calendar_sync_failing", "calendar_stale"]

_PROVIDER_NAMES = {"google": "Google", "microsoft": "Microsoft", "caldav": "CalDAV"}


class CalendarHealth(msgspec.Struct):
    """One linked connection of a user in the answer."""

    user_id: str
    connection_id: str
    provider: str
    status: ConnectionStatus
    last_success_at: datetime | None
    stale: bool


class AvailabilityWarning(msgspec.Struct):
    code: WarningCode
    user_id: str
    connection_id: str
    message: str


_connections, _calendars = cast(Table, Connection.__table__), cast(Table, Calendar.__table__)
_channels = cast(Table, PushChannel.__table__)
_LINKED = (
    select(
        _connections.c.id,
        _connections.c.user_id,
        _connections.c.provider,
        _connections.c.account_email,
        _connections.c.status,
        _connections.c.last_success_at,
        _connections.c.created_at,
        _connections.c.consecutive_failures,
        _connections.c.last_error_code,
    )
    .where(
        _connections.c.organization_id == bindparam("organization_id"),
        _connections.c.user_id.in_(bindparam("user_ids", expanding=True)),
        _connections.c.status != "revoked",
    )
    .order_by(_connections.c.created_at, _connections.c.id)
)
# Busy-source calendars of the connections, each with whether a live push channel covers it.
_UNPUSHED = (
    select(_calendars.c.connection_id)
    .where(
        _calendars.c.connection_id.in_(bindparam("connection_ids", expanding=True)),
        _calendars.c.busy_source.is_(True),
        _calendars.c.removed_at.is_(None),
        ~select(_channels.c.id)
        .where(
            _channels.c.calendar_id == _calendars.c.id,
            _channels.c.status == "active",
            _channels.c.expires_at > bindparam("now"),
        )
        .exists(),
    )
    .distinct()
)


def calendar_health(
    session: Session | SQLConnection, organization_id: str, user_ids: Sequence[str], now: datetime
) -> tuple[list[CalendarHealth], list[AvailabilityWarning]]:
    """The linked connections of ``user_ids`` (in that order of users, then oldest link first)
    and the warnings about them, judged at ``now``."""
    rows = list(session.execute(_LINKED, {"organization_id": organization_id, "user_ids": list(user_ids)}))
    unpushed = (
        set(session.scalars(_UNPUSHED, {"connection_ids": [row.id for row in rows], "now": now})) if rows else set()
    )
    order = {user_id: index for index, user_id in enumerate(user_ids)}
    rows.sort(key=lambda row: order[row.user_id])
    calendars: list[CalendarHealth] = []
    warnings: list[AvailabilityWarning] = []
    for row in rows:
        stale = row.id in unpushed and now - (row.last_success_at or row.created_at) > STALE_AFTER
        calendars.append(CalendarHealth(row.user_id, row.id, row.provider, row.status, row.last_success_at, stale))
        warnings += [
            AvailabilityWarning(code, row.user_id, row.id, message) for code, message in _problems(row, stale=stale)
        ]
    return calendars, warnings


def _problems(row: Row[*tuple[Any, ...]], *, stale: bool) -> list[tuple[WarningCode, str]]:
    """The warnings about one connection row of ``_LINKED``, as ``(code, message)``."""
    name = f"{_PROVIDER_NAMES.get(row.provider, row.provider)} calendar account {row.account_email or row.id}"
    synced = f"last synced successfully at {_at(row.last_success_at)}" if row.last_success_at else "never synced"
    problems: list[tuple[WarningCode, str]] = []
    if row.status == "reauth_required":
        problems.append(
            ("calendar_reauth_required", f"The {name} needs to be linked again; its busy times are as {synced}.")
        )
    elif row.status == "error" or row.consecutive_failures > 0:
        failures = f"{row.consecutive_failures} time(s) in a row" if row.consecutive_failures else "permanently"
        problems.append(
            (
                "calendar_sync_failing",
                f"Syncing the {name} failed {failures} ({row.last_error_code or 'unknown error'}); "
                f"its busy times are as {synced}.",
            )
        )
    if stale:
        minutes = int(STALE_AFTER.total_seconds()) // 60
        problems.append(
            (
                "calendar_stale",
                f"The {name} was {synced}, more than {minutes} minutes ago, and gets no push notifications: "
                "its busy times may be out of date.",
            )
        )
    return problems


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
