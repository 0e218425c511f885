"""Bookings: create, read, list, reschedule and cancel, with no double booking.

The overlap check and the insert happen in one write transaction. On SQLite that transaction
holds the database write lock from its first statement (``BEGIN IMMEDIATE``); on PostgreSQL it
holds a per-host advisory lock (``lock_host``, which holds take too), and an exclusion
constraint on (host, time range) backs both up: if anything slipped past the check the insert
fails and the client still gets ``409 booking_conflict``, never a 500. Live holds block time like
bookings (``hub.availability.busy``); a create with ``hold_id`` turns that hold into the booking in
the same transaction (``hub.holds.rows.take_for_booking``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol, cast
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.auth.principal import Principal
from hub.auth.scopes import may_ignore_availability
from hub.availability import fits_working_hours
from hub.availability.busy import LONGEST_BOOKING, epoch
from hub.bookings import conferencing
from hub.bookings._team import (
    HostBlock,
    add_hosts,
    conflict_error,
    host_conflicts,
    host_ids_of,
    least_booked,
    load_hosts,
    lock_hosts,
    mirror,
    requested_hosts,
)
from hub.bookings.outbox import emit
from hub.bookings.schemas import (
    Assignment,
    AttendeeOut,
    BookingCancel,
    BookingCreate,
    BookingOut,
    BookingReschedule,
    ExternalChange,
    Previous,
    Requested,
)
from hub.clock import utcnow
from hub.db import Database
from hub.db.tables import Booking, BookingHost, User
from hub.errors import ApiError, Conflict, FieldError, InsufficientScope, NotFound
from hub.holds.rows import link_booking, take_for_booking
from hub.idempotency import Finish, KeyTaken, no_finish
from hub.ids import is_valid, new_id
from hub.observability.metrics import BOOKINGS, HOLDS
from hub.pagination import Page, decode_time_cursor, encode_time_cursor
from hub.times import load_zone, parse_instant, supported_instant, to_local_rfc3339
from hub.users.service import HostProfile
from hub.users.service import to_out as user_out

MAX_LENGTH = LONGEST_BOOKING  # the busy-time query counts on it
# Built once: a Core insert executed with a row of values (column names, hence ``metadata``).
_INSERT = insert(cast(Table, Booking.__table__))
_COLUMN_NAMES = {"metadata_": "metadata"}


def to_out(booking: Booking, host_ids: list[str] | None = None) -> BookingOut:
    """The booking object; ``host_ids`` when the booking's host rows are not loaded (a new booking)."""
    zone = ZoneInfo(booking.timezone)
    hosts = host_ids or [h.host_id for h in booking.hosts] or [booking.host_id]
    return BookingOut(
        id=booking.id,
        status=booking.status,
        host_id=booking.host_id,
        start=booking.start_at,
        end=booking.end_at,
        timezone=booking.timezone,
        local_start=to_local_rfc3339(booking.start_at, zone),
        local_end=to_local_rfc3339(booking.end_at, zone),
        requested=Requested(**booking.requested),
        client_timestamp=booking.client_timestamp,
        title=booking.title,
        attendees=[
            AttendeeOut(a["email"], a.get("name"), a.get("response") or "needs_action") for a in booking.attendees
        ],
        metadata=booking.metadata_,
        created_at=booking.created_at,
        updated_at=booking.updated_at,
        cancelled_at=booking.cancelled_at,
        cancellation_reason=booking.cancellation_reason,
        reschedule_count=booking.reschedule_count,
        rescheduled_at=booking.rescheduled_at,
        previous=(
            Previous(booking.previous_start_at, booking.previous_end_at)
            if booking.previous_start_at is not None and booking.previous_end_at is not None
            else None
        ),
        host_ids=hosts,
        assignment=msgspec.convert(booking.assignment, Assignment) if booking.assignment else None,
        conferencing=conferencing.to_public(booking.conferencing),
        external_change=msgspec.convert(booking.external_change, ExternalChange) if booking.external_change else None,
        series_id=booking.series_id,
        occurrence_index=booking.occurrence_index,
    )


class Times:
    """A request's resolved instants (aware UTC) and the zone it is shown in."""

    def __init__(self, start: datetime, end: datetime, zone_name: str) -> None:
        self.start, self.end, self.zone_name = start, end, zone_name


class _When(Protocol):
    """A requested time as sent (``BookingCreate``, ``BookingReschedule``)."""

    @property
    def start(self) -> str: ...
    @property
    def end(self) -> str | None: ...
    @property
    def duration_minutes(self) -> int | None: ...
    @property
    def timezone(self) -> str | None: ...


def resolve_times(data: _When, default_zone: str) -> Times:
    given_zone = load_zone(data.timezone) if data.timezone is not None else None
    start = parse_instant(data.start, field="start", zone=given_zone)
    if (data.end is None) == (data.duration_minutes is None):
        raise FieldError("end", "send exactly one of `end` and `duration_minutes`")
    if data.end is not None:
        end = parse_instant(data.end, field="end", zone=given_zone)
    else:
        end = start + timedelta(minutes=data.duration_minutes or 0)
    if end <= start:
        raise FieldError("end", "must be after `start`")
    if end - start > MAX_LENGTH:
        raise FieldError("end", "a booking may last at most 24 hours")
    return Times(start, end, data.timezone or default_zone)


def _requested(data: _When) -> dict[str, Any]:
    return {"start": data.start, "end": data.end, "timezone": data.timezone, "duration_minutes": data.duration_minutes}


def check_availability(ignore_availability: bool, principal: Principal, host: HostProfile, times: Times) -> None:
    if ignore_availability:
        if not may_ignore_availability(principal.role):
            raise InsufficientScope(
                "Only keys with role `owner` or `member` may send `ignore_availability`.",
            )
        return
    earliest = utcnow() + timedelta(minutes=host.minimum_notice_minutes)
    inside = fits_working_hours(host.ranges(), ZoneInfo(host.timezone), epoch(times.start), epoch(times.end))
    if not inside or times.start < earliest:
        reason = (
            f"starts before the host's minimum notice of {host.minimum_notice_minutes} minutes"
            if inside
            else f"is outside the host's working hours (in {host.timezone})"
        )
        raise Conflict(
            f"The requested time {reason}. Ask GET /v1/availability for free slots.",
            code="outside_availability",
            title="Outside availability",
        )


def lock_host(session: Session, db: Database, host_id: str) -> None:
    """Serialize every writer of one host's time for the rest of the transaction (PostgreSQL; on
    SQLite the write transaction already holds the database's write lock)."""
    lock_hosts(session, db, [host_id])


def _available(
    ignore_availability: bool, principal: Principal, hosts: list[HostProfile], times: Times
) -> list[HostProfile]:
    """The hosts whose working hours and notice allow ``times``; the first refusal when none do."""
    fitting: list[HostProfile] = []
    refusal: Conflict | None = None
    for host in hosts:
        try:
            check_availability(ignore_availability, principal, host, times)
        except Conflict as error:
            refusal = refusal or error
            continue
        fitting.append(host)
    if refusal is not None and not fitting:
        raise refusal
    return fitting


def create_booking(db: Database, principal: Principal, data: BookingCreate, finish: Finish = no_finish) -> BookingOut:
    try:
        out = _create(db, principal, data, finish)
    except KeyTaken:  # another request with the same Idempotency-Key answers this one
        raise
    except Conflict as error:
        BOOKINGS.labels("conflict" if error.code == "booking_conflict" else "rejected").inc()
        raise
    except ApiError:
        BOOKINGS.labels("rejected").inc()
        raise
    except Exception:
        BOOKINGS.labels("error").inc()
        raise
    BOOKINGS.labels("created").inc()
    if data.hold_id is not None:
        HOLDS.labels("converted").inc()
    return out


def _create(db: Database, principal: Principal, data: BookingCreate, finish: Finish) -> BookingOut:
    host_ids, _ = requested_hosts(data.host_id, data.host_ids, data.host_pool)
    if data.hold_id is not None and not is_valid(data.hold_id, "hold"):
        raise FieldError("hold_id", "must be a hold id (hld_...)")
    if data.hold_id is not None and data.host_pool is not None:
        raise FieldError("hold_id", "a hold becomes a booking of its own hosts: send `host_id` or `host_ids`")
    team = len(host_ids) > 1
    # One transaction from the hosts' profiles to the stored answer: a refusal on the way rolls
    # it back (and is then stored under the Idempotency-Key on its own).
    try:
        with finish.write(db) as session:  # claims the Idempotency-Key first, when one was sent
            hosts = load_hosts(session, principal.organization_id, host_ids)
            # made in the first host's calendar (checked before anything is booked); a pool's
            # host is only known once the pool's time is checked, so its check waits until then
            early = conferencing.choose(session, hosts[0].id, data.conferencing) if data.host_pool is None else None
            times = resolve_times(data, hosts[0].timezone)
            if data.client_timestamp is not None:
                parse_instant(data.client_timestamp, field="client_timestamp", zone=None)
            if data.host_pool is None:
                for host in hosts:
                    check_availability(data.ignore_availability, principal, host, times)
                candidates = hosts
            else:
                candidates = _available(data.ignore_availability, principal, hosts, times)
            lock_hosts(session, db, [h.id for h in candidates])
            if data.hold_id is not None:  # no longer active from here on: its block is not in the way
                take_for_booking(session, principal.organization_id, data.hold_id, host_ids, times.start, times.end)
            chosen, assignment = _choose(session, data, candidates, times, team=team)
            conference = (
                early if data.host_pool is None else conferencing.choose(session, chosen[0].id, data.conferencing)
            )
            extra = {"assignment": msgspec.to_builtins(assignment) if assignment else None, "conferencing": conference}
            with db.pipelined(session):  # the writes under the hosts' locks, in one round trip
                row = new_row(principal, chosen[0], times, data, **extra)
                out = insert_booking(session, row, [h.id for h in chosen])
                if data.hold_id is not None:
                    link_booking(session, data.hold_id, out.id)
                finish(session, 201, out)
    except IntegrityError:
        # The exclusion constraint caught an overlap the check could not see.
        with db.read() as session:
            raise conflict_error(host_conflicts(session, candidates, times.start, times.end), team=team) from None
    return out


def _choose(
    session: Session, data: BookingCreate, candidates: list[HostProfile], times: Times, *, team: bool
) -> tuple[list[HostProfile], Assignment | None]:
    """The booking's hosts, checked free (under their locks): all of them, or the pool's pick."""
    found = host_conflicts(session, candidates, times.start, times.end)
    if data.host_pool is None:
        if found:
            raise conflict_error(found, team=team)
        return candidates, None
    busy = {host_id for host_id, _ in found}
    free = [h for h in candidates if h.id not in busy]
    if not free:
        raise conflict_error(
            found,
            team=True,
            detail="No host of the pool is free during the requested time. Pick another slot from "
            "GET /v1/availability.",
        )
    host, assignment = least_booked(session, free, data.host_pool.user_ids, times.start)
    return [host], assignment


def new_row(principal: Principal, host: HostProfile, times: Times, data: BookingCreate, **extra: Any) -> dict[str, Any]:
    """The row of a new confirmed booking of ``data`` at ``times`` whose (first) host is ``host``
    (``extra``: more columns, e.g. a round robin's ``assignment`` or a series' ``series_id``)."""
    now = utcnow()
    return (
        dict(  # noqa: C408 - keyword form mirrors the columns
            id=new_id("booking"),
            organization_id=principal.organization_id,
            host_id=host.id,
            status="confirmed",
            start_at=times.start,
            end_at=times.end,
            timezone=times.zone_name,
            requested=_requested(data),
            client_timestamp=data.client_timestamp,
            title=data.title,
            attendees=[{"email": a.email, "name": a.name} for a in data.attendees],
            metadata_=data.metadata,
            sequence=0,
            created_by=principal.key_id,
            created_at=now,
            updated_at=now,
            cancelled_at=None,
            cancellation_reason=None,
            reschedule_count=0,
            rescheduled_at=None,
            previous_start_at=None,
            previous_end_at=None,
            assignment=None,
            conferencing=None,
            external_change=None,
            series_id=None,
            occurrence_index=None,
        )
        | extra
    )


def insert_booking(session: Session, values: dict[str, Any], host_ids: list[str]) -> BookingOut:
    """Book ``values`` (a ``new_row``) for ``host_ids`` in the caller's write transaction, which
    holds the hosts' locks and found them free: the row, one participation row per host and the
    ``booking.created`` event. On PostgreSQL the exclusion constraint may still refuse a host's
    row (``IntegrityError``); the caller answers that as a conflict."""
    booking = Booking(**values)
    session.execute(_INSERT, {_COLUMN_NAMES.get(k, k): v for k, v in values.items()})
    add_hosts(session, booking, host_ids)
    out = to_out(booking, host_ids)
    emit(
        session,
        organization_id=booking.organization_id,
        event_type="booking.created",
        aggregate_type="booking",
        aggregate_id=booking.id,
        payload=out,
    )
    return out


def _load(session: Session, principal: Principal, booking_id: str) -> Booking:
    booking = session.get(Booking, booking_id) if is_valid(booking_id, "booking") else None
    if booking is None or booking.organization_id != principal.organization_id:
        raise NotFound(f"No booking with id {booking_id!r} exists in this organization.")
    return booking


EXPANDABLE = ("hosts",)


def parse_expand(expand: str | None) -> frozenset[str]:
    """The names of ``?expand=`` (comma-separated); an unknown name is a 422."""
    names = frozenset(n.strip() for n in (expand or "").split(",") if n.strip())
    unknown = sorted(names - set(EXPANDABLE))
    if unknown:
        raise FieldError("expand", f"unknown name {unknown[0]!r}; expandable: {', '.join(EXPANDABLE)}")
    return names


def _expanded(session: Session, outs: list[BookingOut], expand: frozenset[str]) -> list[BookingOut]:
    """``outs`` with the hosts' user objects under ``hosts`` when asked for (one query)."""
    if "hosts" not in expand:
        return outs
    wanted = {host_id for out in outs for host_id in out.host_ids}
    users = {u.id: user_out(u) for u in session.scalars(select(User).where(User.id.in_(wanted)))} if wanted else {}
    return [msgspec.structs.replace(out, hosts=[users[h] for h in out.host_ids if h in users]) for out in outs]


def get_booking(
    db: Database, principal: Principal, booking_id: str, expand: frozenset[str] = frozenset()
) -> BookingOut:
    with db.read() as session:
        return _expanded(session, [to_out(_load(session, principal, booking_id))], expand)[0]


def cancel_booking(db: Database, principal: Principal, booking_id: str, data: BookingCancel) -> BookingOut:
    """Cancel once; cancelling again returns the booking unchanged. The slot is free at once."""
    with db.write() as session:
        booking = _load(session, principal, booking_id)
        if booking.status == "cancelled":
            return to_out(booking)
        return cancel_in(session, booking, data.reason, utcnow())


def cancel_in(session: Session, booking: Booking, reason: str | None, now: datetime) -> BookingOut:
    """Cancel a confirmed ``booking`` in the caller's write transaction and emit ``booking.cancelled``."""
    booking.status = "cancelled"
    booking.cancelled_at = now
    booking.cancellation_reason = reason
    booking.updated_at = now
    booking.sequence += 1
    mirror(session, booking)
    out = to_out(booking)
    emit(
        session,
        organization_id=booking.organization_id,
        event_type="booking.cancelled",
        aggregate_type="booking",
        aggregate_id=booking.id,
        payload=out,
    )
    return out


def reschedule_booking(
    db: Database, principal: Principal, booking_id: str, data: BookingReschedule, finish: Finish = no_finish
) -> BookingOut:
    """Move a confirmed booking to a new time, keeping its id and its hosts; the rules of create
    apply to every host, and the booking's own current time is not in the way. The same times
    again answer the booking unchanged. A round-robin booking keeps the host it was given."""
    with db.read() as session:
        booking = _load(session, principal, booking_id)
        hosts = load_hosts(session, principal.organization_id, host_ids_of(session, booking.id) or [booking.host_id])
    if booking.status == "cancelled":
        raise _cancelled(booking.id)
    times = resolve_times(data, booking.timezone)
    if (times.start, times.end) == (booking.start_at, booking.end_at):
        return _answer(db, principal, booking_id, finish)
    for host in hosts:
        check_availability(data.ignore_availability, principal, host, times)
    try:
        with finish.write(db) as session:  # claims the Idempotency-Key first, when one was sent
            lock_hosts(session, db, [h.id for h in hosts])
            booking = _load(session, principal, booking_id)
            if booking.status == "cancelled":  # cancelled while this request was checked
                raise _cancelled(booking.id)
            if (times.start, times.end) == (booking.start_at, booking.end_at):  # moved there meanwhile
                out = to_out(booking)
            else:
                found = host_conflicts(session, hosts, times.start, times.end, moving=booking.id)
                if found:
                    raise _reschedule_conflict(booking, hosts, found)
                out = _move(session, booking, times, data)
            finish(session, 200, out)
    except IntegrityError:
        # The exclusion constraint caught an overlap the check could not see.
        with db.read() as session:
            found = host_conflicts(session, hosts, times.start, times.end, moving=booking_id)
            raise _reschedule_conflict(booking, hosts, found) from None
    return out


def _reschedule_conflict(booking: Booking, hosts: list[HostProfile], found: list[HostBlock]) -> Conflict:
    if booking.assignment is None:
        return conflict_error(found, team=len(hosts) > 1)
    return conflict_error(
        found,
        team=True,
        detail=(
            f"Host {booking.host_id}, assigned to this round-robin booking, is busy at the new time; Hub does "
            "not reassign a booking when it moves. Pick another time, or cancel and book the pool again."
        ),
    )


def _cancelled(booking_id: str) -> Conflict:
    return Conflict(
        f"Booking {booking_id} is cancelled; a cancelled booking cannot be rescheduled. Create a new booking.",
        code="booking_cancelled",
        title="Booking cancelled",
    )


def _answer(db: Database, principal: Principal, booking_id: str, finish: Finish) -> BookingOut:
    """The booking as it is (a reschedule to its own times), recorded as the request's answer."""
    with finish.write(db) as session:
        out = to_out(_load(session, principal, booking_id))
        finish(session, 200, out)
    return out


def _move(session: Session, booking: Booking, times: Times, data: BookingReschedule) -> BookingOut:
    """Give ``booking`` its new times (in ``session``) and emit ``booking.rescheduled``."""
    now = utcnow()
    booking.previous_start_at, booking.previous_end_at = booking.start_at, booking.end_at
    booking.start_at, booking.end_at, booking.timezone = times.start, times.end, times.zone_name
    booking.requested = _requested(data)
    booking.reschedule_count += 1
    booking.rescheduled_at = booking.updated_at = now
    booking.sequence += 1
    booking.external_change = None  # the client decided: the event is written at the new time
    session.flush()
    mirror(session, booking)  # the exclusion constraint speaks here, inside the ``try`` of the caller
    out = to_out(booking)
    emit(
        session,
        organization_id=booking.organization_id,
        event_type="booking.rescheduled",
        aggregate_type="booking",
        aggregate_id=booking.id,
        payload={**msgspec.to_builtins(out), "sequence": booking.sequence, "reason": data.reason},
    )
    return out


def list_bookings(
    db: Database,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    host_id: str | None,
    status: str | None,
    start_after: datetime | None,
    start_before: datetime | None,
    expand: frozenset[str] = frozenset(),
) -> Page[BookingOut]:
    if start_after is not None:
        start_after = supported_instant(start_after, field="start_after")
    if start_before is not None:
        start_before = supported_instant(start_before, field="start_before")
    query = select(Booking).where(Booking.organization_id == principal.organization_id)
    if host_id is not None:  # every booking the user hosts, team bookings included
        query = query.where(Booking.id.in_(select(BookingHost.booking_id).where(BookingHost.host_id == host_id)))
    if status is not None:
        query = query.where(Booking.status == status)
    if start_after is not None:
        query = query.where(Booking.start_at > start_after)
    if start_before is not None:
        query = query.where(Booking.start_at < start_before)
    if cursor:
        after, last_id = decode_time_cursor(cursor)
        query = query.where((Booking.start_at > after) | ((Booking.start_at == after) & (Booking.id > last_id)))
    with db.read() as session:
        rows = list(session.scalars(query.order_by(Booking.start_at, Booking.id).limit(limit + 1)))
        data = _expanded(session, [to_out(b) for b in rows[:limit]], expand)
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_time_cursor(last.start_at, last.id)
    return Page(data=data, next_cursor=next_cursor)
