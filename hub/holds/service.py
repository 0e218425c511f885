"""Holds: create, read and release temporary reservations of a host's time.

A hold is granted on free time only, by the same rules and in the same way as a booking: the
same time resolution and working-hours check (``hub.bookings.service``), then, in one write
transaction under the host's lock (``lock_host``), the same conflict check (bookings, live
holds, calendar events) and the insert. Every writer of a host's time takes that lock, so a
hold and a booking, or two holds, can never both take the same time. Expiry needs no writer: a
hold stops blocking when its ``expires_at`` passes (``hub.holds.rows``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update

from hub.auth.principal import Principal
from hub.bookings.service import _check_availability, _conflict_error, _find_conflicts, _resolve_times, lock_host
from hub.clock import utcnow
from hub.db import Database
from hub.db.tables import Hold
from hub.errors import FieldError
from hub.holds.rows import load_in, not_active, not_found, status_at
from hub.holds.schemas import HoldCreate, HoldOut
from hub.idempotency import Finish, no_finish
from hub.ids import is_valid, new_id
from hub.observability.metrics import HOLDS
from hub.users.service import load_user


def to_out(hold: Hold, now: datetime) -> HoldOut:
    return HoldOut(
        id=hold.id,
        host_id=hold.host_id,
        start=hold.start_at,
        end=hold.end_at,
        timezone=hold.timezone,
        status=status_at(hold, now),
        expires_at=hold.expires_at,
        booking_id=hold.booking_id,
        created_at=hold.created_at,
    )


def create_hold(
    db: Database, principal: Principal, data: HoldCreate, finish: Finish = no_finish, *, now: datetime | None = None
) -> HoldOut:
    """Hold free time for ``data.ttl_seconds``. ``now`` stands for the clock (tests)."""
    if not is_valid(data.host_id, "user"):
        raise FieldError("host_id", "must be a user id (usr_...)")
    with db.read() as session:
        host = load_user(session, principal.organization_id, data.host_id, field="host")
    times = _resolve_times(data, host.timezone)
    _check_availability(data.ignore_availability, principal, host, times)
    with finish.write(db) as session:  # claims the Idempotency-Key first, when one was sent
        lock_host(session, db, host.id)
        moment = now or utcnow()  # after the lock: the holds in the way are judged as of now
        found = _find_conflicts(session, host, times, now=moment)
        if found:
            raise _conflict_error(found)
        hold = Hold(
            id=new_id("hold"),
            organization_id=principal.organization_id,
            host_id=host.id,
            status="active",
            start_at=times.start,
            end_at=times.end,
            timezone=times.zone_name,
            expires_at=moment + timedelta(seconds=data.ttl_seconds),
            booking_id=None,
            created_by=principal.key_id,
            created_at=moment,
            updated_at=moment,
        )
        session.add(hold)
        out = to_out(hold, moment)
        finish(session, 201, out)
    HOLDS.labels("created").inc()
    return out


def _checked_id(hold_id: str) -> str:
    if not is_valid(hold_id, "hold"):
        raise not_found(hold_id)
    return hold_id


def get_hold(db: Database, principal: Principal, hold_id: str, *, now: datetime | None = None) -> HoldOut:
    with db.read() as session:
        return to_out(load_in(session, principal.organization_id, _checked_id(hold_id)), now or utcnow())


def release_hold(db: Database, principal: Principal, hold_id: str, *, now: datetime | None = None) -> HoldOut:
    """Free a live hold's time at once. Releasing again, or releasing a hold that has expired,
    answers the hold as it is; a converted hold cannot be released (cancel its booking)."""
    _checked_id(hold_id)
    with db.write() as session:
        moment = now or utcnow()
        hold = load_in(session, principal.organization_id, hold_id)
        status = status_at(hold, moment)
        if status == "converted":
            raise not_active(hold, status)
        if status != "active":
            return to_out(hold, moment)
        released = session.execute(
            update(Hold)
            .where(Hold.id == hold.id, Hold.status == "active")
            .values(status="released", updated_at=moment)
            .execution_options(synchronize_session=False)
        )
        session.refresh(hold)
        if released.rowcount != 1 and hold.status == "converted":  # type: ignore[attr-defined]
            raise not_active(hold, "converted")  # a booking took it meanwhile
        out = to_out(hold, moment)
    if released.rowcount == 1:  # type: ignore[attr-defined]
        HOLDS.labels("released").inc()
    return out
