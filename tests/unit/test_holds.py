"""Holds with an injected clock, against the test database: a hold blocks until its
``expires_at`` and not a second longer, whatever its stored status says; the tidy job marks and
counts each expiry once; a conversion judges expiry by the clock too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from hub.auth.principal import Principal
from hub.availability.busy import busy_blocks
from hub.clock import utcnow
from hub.db import Database
from hub.db.tables import Hold
from hub.errors import ApiError, Conflict
from hub.holds.rows import expire_holds, status_at, take_for_booking
from hub.holds.schemas import HoldCreate
from hub.holds.service import create_hold, get_hold, release_hold
from hub.users.schemas import UserCreate, WorkingHours
from hub.users.service import create_user

# A Monday in the future, inside the host's working hours (09:00-17:00 UTC).
START = datetime(2030, 12, 2, 10, 0, tzinfo=UTC)
END = START + timedelta(minutes=30)
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # the injected "now" the hold is made at


@pytest.fixture
def host_id(db: Database, principal: Principal) -> str:
    hours = [WorkingHours(weekday="mon", start="09:00", end="17:00")]
    return create_user(
        db, principal, UserCreate(name="Ada", email="ada@example.com", timezone="UTC", working_hours=hours)
    ).id


def hold(host_id: str, ttl: int = 60, start: datetime = START) -> HoldCreate:
    return HoldCreate(host_id=host_id, start=start.isoformat(), duration_minutes=30, ttl_seconds=ttl)


def test_a_hold_blocks_until_its_expires_at_and_not_after(db: Database, principal: Principal, host_id: str) -> None:
    first = create_hold(db, principal, hold(host_id), now=T0)
    assert first.expires_at == T0 + timedelta(seconds=60)
    for moment in (T0, T0 + timedelta(seconds=59)):
        with pytest.raises(Conflict) as refused:
            create_hold(db, principal, hold(host_id), now=moment)
        assert refused.value.code == "booking_conflict"
        assert refused.value.extra["conflicts"][0]["source"] == "hold"
        assert refused.value.extra["conflicts"][0]["expires_at"] == "2026-01-05T12:01:00Z"
    # At expires_at the hold is over: its status reads expired and its time is free, with no job run.
    assert get_hold(db, principal, first.id, now=first.expires_at).status == "expired"
    assert get_hold(db, principal, first.id, now=first.expires_at - timedelta(seconds=1)).status == "active"
    second = create_hold(db, principal, hold(host_id), now=first.expires_at + timedelta(seconds=1))
    assert second.status == "active"
    with db.read() as session:
        assert session.get(Hold, first.id).status == "active"  # type: ignore[union-attr]  # never rewritten


def test_busy_time_counts_a_hold_only_while_it_is_live(db: Database, principal: Principal, host_id: str) -> None:
    made = create_hold(db, principal, hold(host_id, ttl=30), now=T0)
    with db.read() as session:
        live = busy_blocks(session, host_id, START, END, now=T0 + timedelta(seconds=29))
        gone = busy_blocks(session, host_id, START, END, now=T0 + timedelta(seconds=30))
    assert [(b.source, b.ref, b.expires_at) for b in live] == [("hold", made.id, made.expires_at)]
    assert gone == []


def test_conversion_judges_expiry_by_the_clock(db: Database, principal: Principal, host_id: str) -> None:
    made = create_hold(db, principal, hold(host_id), now=T0)
    with pytest.raises(ApiError) as late, db.write() as session:
        take_for_booking(session, principal.organization_id, made.id, [host_id], START, END, now=made.expires_at)
    assert (late.value.status, late.value.code) == (410, "hold_expired")
    with db.write() as session:
        take_for_booking(
            session,
            principal.organization_id,
            made.id,
            [host_id],
            START,
            END,
            now=made.expires_at - timedelta(seconds=1),
        )
    with pytest.raises(Conflict) as again, db.write() as session:
        take_for_booking(session, principal.organization_id, made.id, [host_id], START, END, now=T0)
    assert again.value.code == "hold_not_active"


def test_release_of_an_expired_hold_leaves_it_expired(db: Database, principal: Principal, host_id: str) -> None:
    made = create_hold(db, principal, hold(host_id), now=T0)
    assert release_hold(db, principal, made.id, now=made.expires_at).status == "expired"
    assert release_hold(db, principal, made.id, now=T0).status == "released"
    assert release_hold(db, principal, made.id, now=T0).status == "released"


def test_the_tidy_job_marks_each_expired_hold_once(db: Database, principal: Principal, host_id: str) -> None:
    # Made 400 seconds ago with 300 to live: expired 100 seconds ago, by the real clock the job uses.
    now = utcnow()
    old = create_hold(db, principal, hold(host_id, ttl=300), now=now - timedelta(seconds=400))
    fresh = create_hold(db, principal, hold(host_id, ttl=300, start=START + timedelta(hours=1)), now=now)
    assert expire_holds(db) >= 1
    with db.read() as session:
        stored = dict(session.execute(select(Hold.id, Hold.status).where(Hold.host_id == host_id)).all())
    assert stored == {old.id: "expired", fresh.id: "active"}
    assert expire_holds(db, now - timedelta(seconds=50)) == 0  # nothing left to mark as of then
    with db.read() as session:
        row = session.get(Hold, old.id)
        assert row is not None
        assert status_at(row, now - timedelta(days=1)) == "expired"  # stored expired stays expired
