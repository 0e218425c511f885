"""Hold rows as the rest of Hub meets them: a hold's status at a moment, the conversion step a
booking create runs inside its own transaction, and the tidy marking of expired rows.

Expiry is a property of the data: a hold is live while its status is ``active`` and its
``expires_at`` is in the future, and every query decides that from ``expires_at`` itself. The
stored ``expired`` status is only written later, by the tidy job (``expire_holds``), which is
also where an expiry is counted, once per hold (the update only changes ``active`` rows).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from hub.clock import utcnow
from hub.db import Database
from hub.db.tables import Hold
from hub.errors import ApiError, Conflict, FieldError, NotFound
from hub.statuses import HoldStatus


def status_at(hold: Hold, now: datetime) -> HoldStatus:
    """The status a client sees: an ``active`` hold whose ``expires_at`` has come is ``expired``."""
    if hold.status == "active" and hold.expires_at <= now:
        return "expired"
    return hold.status


def not_found(hold_id: str) -> NotFound:
    return NotFound(f"No hold with id {hold_id!r} exists in this organization.")


def not_active(hold: Hold, status: HoldStatus) -> Conflict:
    what = f"became booking {hold.booking_id}" if status == "converted" else "was released"
    return Conflict(
        f"Hold {hold.id} {what}; it can no longer be used. Create a new hold or book a free slot.",
        code="hold_not_active",
        title="Hold not active",
    )


def expired(hold: Hold) -> ApiError:
    stamp = hold.expires_at.isoformat().replace("+00:00", "Z")
    return ApiError(
        f"Hold {hold.id} expired at {stamp}; its time is free again. Create a new hold or book a "
        "free slot from GET /v1/availability.",
        code="hold_expired",
        status=410,
        title="Hold expired",
    )


def load_in(session: Session, organization_id: str, hold_id: str) -> Hold:
    hold = session.get(Hold, hold_id)
    if hold is None or hold.organization_id != organization_id:
        raise not_found(hold_id)
    return hold


def take_for_booking(
    session: Session,
    organization_id: str,
    hold_id: str,
    host_ids: list[str],
    start: datetime,
    end: datetime,
    *,
    now: datetime | None = None,
) -> None:
    """Mark the hold ``converted`` for a booking of exactly its hosts (in any order) and times, in
    the booking's write transaction (after its hosts' locks), before the booking's conflict check:
    the hold's own block is then out of the way. Raises the answer when the hold cannot be used."""
    now = now or utcnow()
    hold = load_in(session, organization_id, hold_id)
    status = status_at(hold, now)
    if status == "expired":
        raise expired(hold)
    if status != "active":
        raise not_active(hold, status)
    held = [h.host_id for h in hold.hosts] or [hold.host_id]
    if sorted(held) != sorted(host_ids):
        if len(held) == 1 and len(host_ids) == 1:
            raise FieldError("host_id", f"must be the host of hold {hold.id} ({hold.host_id})")
        raise FieldError("host_ids", f"must be the hosts of hold {hold.id} ({', '.join(held)})")
    if (hold.start_at, hold.end_at) != (start, end):
        raise FieldError(
            "start",
            f"the booking must have the hold's exact times ({_z(hold.start_at)} to {_z(hold.end_at)})",
        )
    taken = session.execute(
        update(Hold)
        .where(Hold.id == hold.id, Hold.status == "active", Hold.expires_at > now)
        .values(status="converted", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]  # released meanwhile (release takes no host lock)
        session.refresh(hold)
        raise not_active(hold, status_at(hold, now))


def link_booking(session: Session, hold_id: str, booking_id: str) -> None:
    """Record the booking a converted hold became (after the booking's row is written)."""
    session.execute(
        update(Hold)
        .where(Hold.id == hold_id)
        .values(booking_id=booking_id)
        .execution_options(synchronize_session=False)
    )


def expire_holds(db: Database, now: datetime | None = None) -> int:
    """Write ``expired`` on the active holds whose ``expires_at`` has come; how many. Tidy only:
    nothing depends on it to free the time."""
    now = now or utcnow()
    with db.write() as session:
        result = session.execute(
            update(Hold)
            .where(Hold.status == "active", Hold.expires_at <= now)
            .values(status="expired", updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _z(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
