"""Remembered availability answers (``hub.availability.cache``): a repeated question is answered
from memory, but never after anything it was computed from has changed, whoever wrote it: every
write of a busy-time source raises the user's ``busy_version`` in the database (migration 0013),
and what time alone changes (a hold running out, the notice passing a slot) ends an entry too.

Writes made straight in the database stand for another process (a worker's sync, a second
server): nothing in this process hears of them."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from hub.availability import service
from hub.availability.cache import SLOTS, SlotCache
from hub.clock import utcnow
from hub.db import Database
from hub.db.tables import Booking, BookingHost, Calendar, Connection, ExternalEvent, Hold, HoldHost, User
from hub.observability.metrics import AVAILABILITY
from tests.integration.helpers import MONDAY, booking, create_booking, link_calendar
from tests.support.tenants import Tenant

MONDAY_HOURS = [{"weekday": "mon", "start": "09:00", "end": "12:00"}]  # 08:00-11:00 UTC in December
EVERY_SLOT = [f"2030-12-02T{h:02d}:{m:02d}:00Z" for h in (8, 9, 10) for m in (0, 30)]


def ask(tenant: Tenant, user_id: str, **params: Any) -> dict[str, Any]:
    query = {"user_id": user_id, "start": f"{MONDAY}T00:00:00Z", "end": f"{MONDAY}T23:00:00Z", "duration_minutes": 30}
    response = tenant.client.get("/v1/availability", params={**query, **params})
    assert response.status_code == 200, response.text
    return dict(response.json())


def starts(body: dict[str, Any]) -> list[str]:
    return [slot["start"] for slot in body["slots"]]


def computed_afresh(tenant: Tenant, user_id: str, **params: Any) -> dict[str, Any]:
    """The answer with nothing remembered."""
    SLOTS.clear()
    return ask(tenant, user_id, **params)


def answered(source: str) -> float:
    """``hub_availability_answers_total`` of ``source`` so far (``memory`` or ``computed``)."""
    samples = AVAILABILITY.collect()[0].samples
    return next(s.value for s in samples if s.name.endswith("_total") and s.labels["source"] == source)


def version(db: Database, user_id: str) -> int:
    with db.read() as session:
        return int(session.scalar(select(User.busy_version).where(User.id == user_id)) or 0)


@pytest.fixture
def host(tenant: Tenant) -> str:
    return str(tenant.create_user(working_hours=MONDAY_HOURS)["id"])


def test_a_repeated_question_is_answered_from_memory(tenant: Tenant, host: str) -> None:
    first = computed_afresh(tenant, host)
    hits = answered("memory")
    again = ask(tenant, host)
    assert answered("memory") == hits + 1
    assert again == first
    assert starts(again) == EVERY_SLOT
    # Another view zone, duration or window is another question.
    computed = answered("computed")
    ask(tenant, host, timezone="America/New_York")
    ask(tenant, host, duration_minutes=60)
    assert answered("computed") == computed + 2


def test_a_booking_and_its_cancellation_change_the_answer(tenant: Tenant, host: str) -> None:
    assert starts(computed_afresh(tenant, host)) == EVERY_SLOT
    made = create_booking(tenant.client, booking(host, f"{MONDAY}T10:00:00", duration_minutes=30))
    assert starts(ask(tenant, host)) == [s for s in EVERY_SLOT if s != "2030-12-02T09:00:00Z"]
    cancelled = tenant.client.post(f"/v1/bookings/{made['id']}/cancel", json={})
    assert cancelled.status_code == 200, cancelled.text
    assert starts(ask(tenant, host)) == EVERY_SLOT


def _busy_event(db: Database, organization_id: str, user_id: str) -> str:
    return link_calendar(
        db, organization_id, user_id, busy=[("2030-12-02T08:00:00+00:00", "2030-12-02T09:00:00+00:00")]
    )


def _calendar_of(db: Database, connection_id: str) -> str:
    with db.read() as session:
        return str(session.scalar(select(Calendar.id).where(Calendar.connection_id == connection_id)))


# Writes of another process, each after a linked calendar made the first hour busy: each gives
# that hour back.
def _events_deleted(db: Database, connection_id: str) -> None:
    with db.write() as session:
        session.execute(delete(ExternalEvent).where(ExternalEvent.calendar_id == _calendar_of(db, connection_id)))


def _event_moved(db: Database, connection_id: str) -> None:
    with db.write() as session:
        session.execute(
            update(ExternalEvent)
            .where(ExternalEvent.calendar_id == _calendar_of(db, connection_id))
            .values(start_at=datetime(2030, 12, 2, 14, tzinfo=UTC), end_at=datetime(2030, 12, 2, 15, tzinfo=UTC))
        )


def _calendar_no_longer_busy_source(db: Database, connection_id: str) -> None:
    with db.write() as session:
        session.execute(update(Calendar).where(Calendar.connection_id == connection_id).values(busy_source=False))


def _calendar_removed(db: Database, connection_id: str) -> None:
    with db.write() as session:
        session.execute(update(Calendar).where(Calendar.connection_id == connection_id).values(removed_at=utcnow()))


def _connection_unlinked(db: Database, connection_id: str) -> None:
    with db.write() as session:
        session.execute(update(Connection).where(Connection.id == connection_id).values(status="revoked"))


@pytest.mark.parametrize(
    "write",
    [_events_deleted, _event_moved, _calendar_no_longer_busy_source, _calendar_removed, _connection_unlinked],
    ids=lambda write: write.__name__.strip("_"),
)
def test_a_write_by_another_process_changes_the_answer(
    tenant: Tenant, host: str, write: Callable[[Database, str], None]
) -> None:
    connection_id = _busy_event(tenant.db, tenant.organization_id, host)
    busy = ask(tenant, host)
    assert starts(busy) == EVERY_SLOT[2:]
    assert starts(ask(tenant, host)) == EVERY_SLOT[2:]  # remembered
    write(tenant.db, connection_id)
    after = ask(tenant, host)
    assert starts(after) == EVERY_SLOT
    assert after == computed_afresh(tenant, host)


def test_a_new_busy_event_from_a_sync_changes_the_answer(tenant: Tenant, host: str) -> None:
    assert starts(computed_afresh(tenant, host)) == EVERY_SLOT
    _busy_event(tenant.db, tenant.organization_id, host)
    assert starts(ask(tenant, host)) == EVERY_SLOT[2:]


def test_a_changed_profile_is_a_new_question(tenant: Tenant, host: str) -> None:
    assert starts(computed_afresh(tenant, host)) == EVERY_SLOT
    changed = tenant.client.patch(f"/v1/users/{host}", json={"buffer_minutes": 30})
    assert changed.status_code == 200, changed.text
    create_booking(tenant.client, booking(host, f"{MONDAY}T10:00:00", duration_minutes=30))
    assert starts(ask(tenant, host)) == ["2030-12-02T08:00:00Z", "2030-12-02T10:00:00Z", "2030-12-02T10:30:00Z"]
    changed = tenant.client.patch(f"/v1/users/{host}", json={"buffer_minutes": 0})
    assert changed.status_code == 200, changed.text
    assert starts(ask(tenant, host)) == [s for s in EVERY_SLOT if s != "2030-12-02T09:00:00Z"]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    """Sets the availability service's "now"."""

    def set_to(moment: datetime) -> None:
        monkeypatch.setattr(service, "utcnow", lambda: moment)

    return set_to


def test_a_hold_that_runs_out_frees_its_time_with_no_write(
    tenant: Tenant, host: str, clock: Callable[[datetime], None]
) -> None:
    held = tenant.client.post("/v1/holds", json=booking(host, f"{MONDAY}T09:00:00", duration_minutes=30))
    assert held.status_code == 201, held.text
    expires_at = datetime.fromisoformat(held.json()["expires_at"])
    SLOTS.clear()
    assert starts(ask(tenant, host)) == EVERY_SLOT[1:]
    clock(expires_at - timedelta(seconds=1))
    hits = answered("memory")
    assert starts(ask(tenant, host)) == EVERY_SLOT[1:]  # still live: remembered
    assert answered("memory") == hits + 1
    clock(expires_at)
    assert starts(ask(tenant, host)) == EVERY_SLOT  # run out: computed again


def test_the_notice_passing_a_slot_takes_it_away(tenant: Tenant, clock: Callable[[datetime], None]) -> None:
    host = str(tenant.create_user(working_hours=MONDAY_HOURS, minimum_notice_minutes=60)["id"])
    first = datetime(2030, 12, 2, 8, tzinfo=UTC)
    clock(first - timedelta(hours=1))  # the notice reaches exactly the first slot
    SLOTS.clear()
    assert starts(ask(tenant, host)) == EVERY_SLOT
    clock(first - timedelta(hours=1, seconds=-0.5))  # the same whole second: still offered
    hits = answered("memory")
    assert starts(ask(tenant, host)) == EVERY_SLOT
    assert answered("memory") == hits + 1
    clock(first - timedelta(minutes=59, seconds=59))
    assert starts(ask(tenant, host)) == EVERY_SLOT[1:]
    # A clock set back does not take the later answer for its own.
    clock(first - timedelta(hours=2))
    assert starts(ask(tenant, host)) == EVERY_SLOT


# --- the triggers, one write at a time --------------------------------------------------------


def _hold_rows(db: Database, organization_id: str, user_id: str) -> str:
    now = utcnow()
    values = {"organization_id": organization_id, "host_id": user_id, "status": "active", "timezone": "UTC",
              "start_at": now + timedelta(days=1), "end_at": now + timedelta(days=1, hours=1),
              "expires_at": now + timedelta(minutes=5), "created_at": now, "updated_at": now}  # fmt: skip
    hold_id = f"hld_{user_id[4:]}"
    with db.write() as session:
        session.execute(insert(Hold).values(id=hold_id, **values))
        session.execute(insert(HoldHost).values(hold_id=hold_id, host_id=user_id, position=0))
    return hold_id


def test_every_write_of_a_busy_source_raises_the_version(tenant: Tenant, host: str) -> None:
    db = tenant.db
    seen = [version(db, host)]

    def raised() -> bool:
        seen.append(version(db, host))
        return seen[-1] > seen[-2]

    made = create_booking(tenant.client, booking(host, f"{MONDAY}T10:00:00", duration_minutes=30))
    assert raised()  # booking_hosts insert
    with db.write() as session:
        session.execute(update(BookingHost).where(BookingHost.booking_id == made["id"]).values(status="cancelled"))
    assert raised()  # booking_hosts update
    with db.write() as session:
        session.execute(update(BookingHost).where(BookingHost.booking_id == made["id"]).values(position=0))
    assert not raised()  # a column the busy time does not read
    hold_id = _hold_rows(db, tenant.organization_id, host)
    assert raised()  # hold_hosts insert
    with db.write() as session:
        session.execute(update(Hold).where(Hold.id == hold_id).values(status="released"))
    assert raised()  # holds update
    with db.write() as session:
        session.execute(delete(HoldHost).where(HoldHost.hold_id == hold_id))
    assert raised()  # hold_hosts delete
    connection_id = _busy_event(db, tenant.organization_id, host)
    assert raised()  # external_events insert
    _event_moved(db, connection_id)
    assert raised()  # external_events update
    _events_deleted(db, connection_id)
    assert raised()  # external_events delete
    _calendar_no_longer_busy_source(db, connection_id)
    assert raised()  # calendars update
    with db.write() as session:
        session.execute(update(Connection).where(Connection.id == connection_id).values(last_error_code="x"))
    assert not raised()  # connections: a column the busy time does not read
    _connection_unlinked(db, connection_id)
    assert raised()  # connections update


def test_a_statement_of_many_events_raises_each_user_once_or_more(tenant: Tenant, host: str) -> None:
    other = str(tenant.create_user()["id"])
    before = (version(tenant.db, host), version(tenant.db, other))
    first = link_calendar(tenant.db, tenant.organization_id, host)
    second = link_calendar(tenant.db, tenant.organization_id, other)
    calendars = [_calendar_of(tenant.db, first), _calendar_of(tenant.db, second)]
    now = utcnow()
    rows = [
        {"calendar_id": calendars[n % 2], "user_id": (host, other)[n % 2], "provider_event_id": f"e{n}",
         "start_at": now + timedelta(hours=n), "end_at": now + timedelta(hours=n, minutes=30), "updated_at": now}
        for n in range(200)
    ]  # fmt: skip
    with tenant.db.write() as session:
        session.execute(insert(ExternalEvent), rows)
    inserted = (version(tenant.db, host), version(tenant.db, other))
    assert inserted[0] > before[0]
    assert inserted[1] > before[1]
    with tenant.db.write() as session:
        session.execute(delete(ExternalEvent).where(ExternalEvent.calendar_id.in_(calendars)))
    deleted = (version(tenant.db, host), version(tenant.db, other))
    assert deleted[0] > inserted[0]
    assert deleted[1] > inserted[1]


def test_the_cache_is_bounded_and_least_recently_used_goes_first() -> None:
    cache = SlotCache(slots=40)  # answers of up to 4 slots are kept
    now = datetime(2030, 1, 1, tzinfo=UTC)
    for key in ("a", "b"):
        cache.put(key, [key] * 4, computed_at=now, until=now.timestamp() + 60)
    cache.put("big", ["big"] * 5, computed_at=now, until=now.timestamp() + 60)
    assert cache.get("big", now) is None  # over a tenth of the whole: not kept
    for key in "defghijk":
        cache.put(key, [key] * 4, computed_at=now, until=now.timestamp() + 60)
    assert cache.get("a", now) == ["a"] * 4  # "b" is now the least recently used, and all 40 are kept
    cache.put("c", ["c"], computed_at=now, until=now.timestamp() + 60)
    assert cache.get("b", now) is None
    cache.put("a", ["a"], computed_at=now, until=now.timestamp() + 60)  # replaced: its 4 slots freed
    cache.put("l", ["l"] * 3, computed_at=now, until=now.timestamp() + 60)
    assert cache.get("d", now) == ["d"] * 4
    assert cache.get("a", now) == ["a"]
    assert cache.get("c", now) == ["c"]
    assert cache.get("a", now + timedelta(seconds=60)) is None  # ``until`` is exclusive
    assert cache.get("c", now - timedelta(microseconds=1)) is None  # before it was computed


def test_a_sync_and_a_cancellation_waiting_on_each_other_do_not_deadlock(tenant: Tenant, host: str) -> None:
    """On PostgreSQL the version is raised at commit: a sync that wrote a user's events and then
    waits on one of the user's bookings (``_readback`` locks it) holds no lock on the user's row
    that a cancellation of that booking, already holding the booking, would wait on."""
    if tenant.db.is_sqlite:
        pytest.skip("SQLite runs one writer at a time")
    made = create_booking(tenant.client, booking(host, f"{MONDAY}T10:00:00", duration_minutes=30))
    calendar_id = _calendar_of(tenant.db, link_calendar(tenant.db, tenant.organization_id, host))
    before = version(tenant.db, host)
    now = utcnow()
    engine = tenant.db.write_engine
    with engine.connect() as sync, engine.connect() as cancel:
        sync.execute(
            insert(ExternalEvent).values(calendar_id=calendar_id, user_id=host, provider_event_id="late",
                                         start_at=now, end_at=now + timedelta(hours=1), updated_at=now)
        )  # fmt: skip
        cancel.execute(update(Booking).where(Booking.id == made["id"]).values(status="cancelled"))
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(
                lambda: sync.execute(select(Booking.id).where(Booking.id == made["id"]).with_for_update()).all()
            )
            time.sleep(0.3)  # the sync now waits on the booking's row
            assert not waiting.done()
            cancel.execute(update(BookingHost).where(BookingHost.booking_id == made["id"]).values(status="cancelled"))
            cancel.commit()
            assert waiting.result(timeout=10) == [(made["id"],)]
        sync.commit()
    assert version(tenant.db, host) >= before + 2
