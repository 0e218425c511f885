"""Holds: create, read and release temporary reservations of a host's time.

A hold is granted on free time only, by the same rules and in the same way as a booking: the
same time resolution and working-hours check (``hub.bookings.service``), then, in one write
transaction under the host's lock (``lock_hosts``), the same conflict check (bookings, live
holds, calendar events) and the insert. Every writer of a host's time takes that lock, so a
hold and a booking, or two holds, can never both take the same time. A hold of several hosts
(``host_ids``) is granted when every one of them is free, and blocks each of them. Expiry needs no writer: a
hold stops blocking when its ``expires_at`` passes (``hub.holds.rows``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update

from hub.auth.principal import Principal
from hub.bookings._team import conflict_error, host_conflicts, load_hosts, lock_hosts, requested_hosts
from hub.bookings.service import check_availability, resolve_times
from hub.clock import utcnow
from hub.db import Database
from hub.db.tables import Hold, HoldHost
from hub.holds.rows import load_in, not_active, not_found, status_at
from hub.holds.schemas import HoldCreate, HoldOut
from hub.idempotency import Finish, no_finish
from hub.ids import is_valid, new_id
from hub.observability.metrics import HOLDS


def to_out(hold: Hold, now: datetime, host_ids: list[str] | None = None) -> HoldOut:
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
        host_ids=host_ids or [h.host_id for h in hold.hosts] or [hold.host_id],
    )


def create_hold(
    db: Database, principal: Principal, data: HoldCreate, finish: Finish = no_finish, *, now: datetime | None = None
) -> HoldOut:
    """Hold free time for ``data.ttl_seconds``. ``now`` stands for the clock (tests)."""
    host_ids, _ = requested_hosts(data.host_id, data.host_ids, pool=False)
    with db.read() as session:
        hosts = load_hosts(session, principal.organization_id, host_ids)
    times = resolve_times(data, hosts[0].timezone)
    for host in hosts:
        check_availability(data.ignore_availability, principal, host, times)
    with finish.write(db) as session:  # claims the Idempotency-Key first, when one was sent
        lock_hosts(session, db, host_ids)
        moment = now or utcnow()  # after the lock: the holds in the way are judged as of now
        found = host_conflicts(session, hosts, times.start, times.end, now=moment)
        if found:
            raise conflict_error(found, team=len(hosts) > 1)
        hold = Hold(
            id=new_id("hold"),
            organization_id=principal.organization_id,
            host_id=host_ids[0],
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
        session.add_all(HoldHost(hold_id=hold.id, host_id=h, position=i) for i, h in enumerate(host_ids))
        out = to_out(hold, moment, host_ids)
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
