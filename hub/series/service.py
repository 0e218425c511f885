"""Booking series: create (all occurrences in one write transaction), read and cancel.

Every occurrence is a booking of its own, made by the code that makes a single booking
(``hub.bookings.service.insert_booking``) inside one write transaction under the hosts' locks
(one host, or every host of a collective series, ``host_ids``, locked in sorted order), so each
occurrence has the database's no-overlap guarantee for every host, and the series is all or nothing:
one occurrence that cannot be booked rolls back every other (``on_conflict: "fail"``), unless
``on_conflict: "skip"`` books the others and lists it in the series' ``skipped``. Each
occurrence is tried in a savepoint, so a refusal of the exclusion constraint (PostgreSQL)
undoes that occurrence alone and the others can still be judged.

A round-robin series (``host_pool``) gets one host for all its occurrences, chosen in the same
transaction under every pool host's lock (``_pick``): among the hosts free for every occurrence
(in skip mode: for the most occurrences), the least-booked rules of a single round-robin booking.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.auth.principal import Principal
from hub.bookings import conferencing
from hub.bookings._team import (
    conflict_error,
    host_conflicts,
    host_ids_of,
    least_booked,
    load_hosts,
    lock_hosts,
    requested_hosts,
)
from hub.bookings.assignment import Assignment
from hub.bookings.outbox import emit
from hub.bookings.schemas import BookingCreate, BookingOut
from hub.bookings.service import (
    Times,
    cancel_in,
    check_availability,
    insert_booking,
    new_row,
    resolve_times,
)
from hub.clock import utcnow
from hub.db import Database
from hub.db.tables import Booking, BookingSeries
from hub.errors import ApiError, Conflict, FieldError, NotFound
from hub.idempotency import Finish, no_finish
from hub.ids import is_valid, new_id
from hub.observability.metrics import BOOKINGS
from hub.series.rule import normalized, occurrences
from hub.series.schemas import Recurrence, SeriesCancel, SeriesOut, Skipped
from hub.times import local_instant, parse_instant, to_rfc3339_utc
from hub.users.service import HostProfile

_INSERT = insert(cast(Table, BookingSeries.__table__))


@dataclass
class _Occurrence:
    index: int
    start: datetime  # UTC; in a DST gap the instant a calendar client shows (the offset before the gap)
    times: Times | None = None  # None: refused before the transaction (``error``)
    error: ApiError | None = None
    booked: BookingOut | None = None


def to_out(
    series: BookingSeries, booking_ids: list[str], host_ids: list[str], assignment: Assignment | None = None
) -> SeriesOut:
    return SeriesOut(
        id=series.id,
        host_id=series.host_id,
        host_ids=host_ids or [series.host_id],
        timezone=series.timezone,
        recurrence=msgspec.convert(series.recurrence, Recurrence),
        status=cast(Any, series.status),
        booking_ids=booking_ids,
        skipped=[msgspec.convert(s, Skipped) for s in series.skipped],
        created_at=series.created_at,
        updated_at=series.updated_at,
        assignment=assignment,
    )


def _plan(
    principal: Principal, hosts: list[HostProfile], data: BookingCreate, first: Times, rule: Recurrence
) -> list[_Occurrence]:
    """Every occurrence at the first one's wall-clock time, each checked as a single booking is
    before its transaction (its local time exists and is unambiguous, every host's working hours
    and notice)."""
    zone = ZoneInfo(first.zone_name)
    wall = first.start.astimezone(zone).replace(tzinfo=None)
    length = first.end - first.start
    planned = []
    for index, local in enumerate(occurrences(rule, wall)):
        occurrence = _Occurrence(index, local.replace(tzinfo=zone).astimezone(UTC))
        try:
            start = local_instant(local, zone, field="start")
            occurrence.times = Times(start, start + length, first.zone_name)
            for host in hosts:
                check_availability(data.ignore_availability, principal, host, occurrence.times)
        except ApiError as error:
            if error.status == 403:  # the key may not ignore availability: the whole request is refused
                raise
            occurrence.error = error
        planned.append(occurrence)
    return planned


def _hosts(db: Database, principal: Principal, data: BookingCreate) -> tuple[list[HostProfile], dict[str, Any] | None]:
    """The series' hosts: one (``host_id``), every host of a collective series (``host_ids``), or
    the round-robin pool (``host_pool``) one of which is chosen in the write transaction; and
    the ``conferencing`` column every occurrence starts with, checked before anything is booked
    (``422 conferencing_unavailable`` as for a single booking; a pool's host is checked once
    chosen)."""
    host_ids, _ = requested_hosts(data.host_id, data.host_ids, data.host_pool)
    if data.hold_id is not None:
        raise FieldError("hold_id", "a hold cannot start a series; send `recurrence` without `hold_id`")
    with db.read() as session:
        hosts = load_hosts(session, principal.organization_id, host_ids)
        early = None if data.host_pool is not None else conferencing.choose(session, hosts[0].id, data.conferencing)
        return hosts, early


def create_series(db: Database, principal: Principal, data: BookingCreate, finish: Finish = no_finish) -> BookingOut:
    """Book every occurrence of ``data.recurrence``; the answer is the first booked occurrence."""
    assert data.recurrence is not None
    hosts, conference = _hosts(db, principal, data)
    first = resolve_times(data, hosts[0].timezone)
    if data.client_timestamp is not None:
        parse_instant(data.client_timestamp, field="client_timestamp", zone=None)
    zone = ZoneInfo(first.zone_name)
    rule = normalized(data.recurrence, first.start.astimezone(zone).replace(tzinfo=None))
    if data.host_pool is None:
        plans = {"": _plan(principal, hosts, data, first, rule)}
    else:  # each pool host's own plan: its working hours and notice decide its occurrences
        plans = {h.id: _plan(principal, [h], data, first, rule) for h in hosts}
    try:
        with finish.write(db) as session:  # claims the Idempotency-Key first, when one was sent
            lock_hosts(session, db, [h.id for h in hosts])
            booked_hosts, planned, assignment = hosts, plans.get("", []), None
            if data.host_pool is not None:
                chosen, planned, assignment = _pick(session, hosts, plans, data.host_pool.user_ids, rule, first)
                booked_hosts = [chosen]
                conference = conferencing.choose(session, chosen.id, data.conferencing)
            series = _insert_series(session, principal, booked_hosts[0], first, rule, planned)
            for occurrence in planned:
                if occurrence.error is None:
                    _book(session, principal, booked_hosts, data, series.id, occurrence, assignment, conference)
            refused = [o for o in planned if o.error is not None]
            booked = [o.booked for o in planned if o.booked is not None]
            if refused and (rule.on_conflict == "fail" or not booked):
                raise _all_or_nothing(refused)
            series.skipped = [_entry(o) for o in refused]
            out = to_out(series, [b.id for b in booked], [h.id for h in booked_hosts], assignment)
            emit(
                session,
                organization_id=series.organization_id,
                event_type="booking_series.created",
                aggregate_type="booking_series",
                aggregate_id=series.id,
                payload=out,
            )
            finish(session, 201, booked[0])
    except ApiError:
        conflict = any(_conflicts(o) for plan in plans.values() for o in plan)
        BOOKINGS.labels("conflict" if conflict else "rejected").inc()
        raise
    BOOKINGS.labels("created").inc(len(booked))
    return booked[0]


def _pick(
    session: Session,
    pool: list[HostProfile],
    plans: dict[str, list[_Occurrence]],
    pool_ids: list[str],
    rule: Recurrence,
    first: Times,
) -> tuple[HostProfile, list[_Occurrence], Assignment]:
    """The round-robin series' host (under every pool host's lock) and its plan: the hosts free for
    the most occurrences (in fail mode they must be free for all), ranked by ``least_booked`` at the
    first occurrence's start. In fail mode with no host free for every occurrence, the best
    candidate's failing occurrences are the answer (``_pool_refusal``)."""
    for host in pool:
        for occurrence in plans[host.id]:
            times = occurrence.times
            if occurrence.error is None and times is not None:
                found = host_conflicts(session, [host], times.start, times.end)
                if found:
                    occurrence.error = conflict_error(found, team=True)
    free = {h.id: sum(o.error is None for o in plans[h.id]) for h in pool}
    best = max(free.values())
    chosen, assignment = least_booked(session, [h for h in pool if free[h.id] == best], pool_ids, first.start)
    total = len(plans[chosen.id])
    if best == 0 or (best < total and rule.on_conflict == "fail"):
        raise _pool_refusal(chosen, [o for o in plans[chosen.id] if o.error is not None])
    if best < total:
        assignment.reason = f"free for the most occurrences ({best} of {total}); {assignment.reason}"
    return chosen, plans[chosen.id], assignment


def _pool_refusal(candidate: HostProfile, refused: list[_Occurrence]) -> ApiError:
    """No pool host is free for every occurrence: the best candidate's failing occurrences, as
    ``409 booking_conflict`` listing the candidate's busy blocks (each naming ``host_id``) under
    ``conflicts`` and its failing occurrences under ``occurrences``; when none of them is busy time
    (working hours, notice, local-time rules), the first one's error as for a one-host series."""
    busy = [o for o in refused if _conflicts(o)]
    if not busy:
        return _all_or_nothing(refused)
    names = ", ".join(f"{o.index} ({to_rfc3339_utc(o.start)})" for o in refused)
    return Conflict(
        f"No host of the pool is free for every occurrence of the series; nothing was booked. The best "
        f"candidate, host {candidate.id}, cannot take {len(refused)} occurrence(s): {names}. Send "
        '`recurrence.on_conflict: "skip"` to book the host free for the most occurrences.',
        code="booking_conflict",
        title="Booking conflict",
        extra={
            "conflicts": [c for o in busy if o.error is not None for c in o.error.extra.get("conflicts", [])],
            "occurrences": [_entry(o) for o in refused],
        },
    )


def _conflicts(occurrence: _Occurrence) -> bool:
    return occurrence.error is not None and occurrence.error.code == "booking_conflict"


def _insert_series(
    session: Session,
    principal: Principal,
    host: HostProfile,
    first: Times,
    rule: Recurrence,
    planned: list[_Occurrence],
) -> BookingSeries:
    now = utcnow()
    series = BookingSeries(
        id=new_id("series"),
        organization_id=principal.organization_id,
        host_id=host.id,
        status="active",
        timezone=first.zone_name,
        recurrence=msgspec.to_builtins(rule),
        starts=[to_rfc3339_utc(o.start) for o in planned],
        duration_seconds=int((first.end - first.start).total_seconds()),
        skipped=[],
        cancellations=[],
        created_by=principal.key_id,
        created_at=now,
        updated_at=now,
    )
    session.add(series)
    session.flush()  # the occurrences refer to it
    return series


def _book(
    session: Session,
    principal: Principal,
    hosts: list[HostProfile],
    data: BookingCreate,
    series_id: str,
    occurrence: _Occurrence,
    assignment: Assignment | None = None,
    conference: dict[str, Any] | None = None,
) -> None:
    """Book one occurrence for every host in a savepoint; a refusal is kept on the occurrence.
    An occurrence has a conference of its own (its own provider event): a copy of ``conference``."""
    times = occurrence.times
    assert times is not None
    team = len(hosts) > 1
    values = new_row(
        principal,
        hosts[0],
        times,
        data,
        series_id=series_id,
        occurrence_index=occurrence.index,
        assignment=msgspec.to_builtins(assignment) if assignment is not None else None,
        conferencing=dict(conference) if conference is not None else None,
    )
    try:
        with session.begin_nested():
            found = host_conflicts(session, hosts, times.start, times.end)
            if found:
                raise conflict_error(found, team=team)
            occurrence.booked = insert_booking(session, values, [h.id for h in hosts])
    except ApiError as error:
        occurrence.error = error
    except IntegrityError:  # the exclusion constraint caught an overlap the check could not see
        occurrence.error = conflict_error(host_conflicts(session, hosts, times.start, times.end), team=team)


def _entry(occurrence: _Occurrence) -> dict[str, str]:
    assert occurrence.error is not None
    return {"start": to_rfc3339_utc(occurrence.start), "code": occurrence.error.code}


def _all_or_nothing(refused: list[_Occurrence]) -> ApiError:
    """The first refused occurrence's error, as a single booking would get it, naming the series'
    every refused occurrence under ``occurrences``; nothing is booked."""
    first = refused[0]
    assert first.error is not None
    error = first.error
    names = ", ".join(f"{o.index} ({to_rfc3339_utc(o.start)})" for o in refused)
    error.detail = (
        f"{len(refused)} occurrence(s) of the series cannot be booked: {names}; nothing was booked. "
        f'Occurrence {first.index}: {error.detail} Send `recurrence.on_conflict: "skip"` to book the others.'
    )
    error.extra = {**error.extra, "occurrences": [_entry(o) for o in refused]}
    return error


def _load(session: Session, principal: Principal, series_id: str) -> BookingSeries:
    series = session.get(BookingSeries, series_id) if is_valid(series_id, "series") else None
    if series is None or series.organization_id != principal.organization_id:
        raise NotFound(f"No booking series with id {series_id!r} exists in this organization.")
    return series


def occurrences_of(session: Session, series_id: str) -> list[Booking]:
    """The series' bookings (cancelled ones too), by occurrence index."""
    return list(
        session.scalars(select(Booking).where(Booking.series_id == series_id).order_by(Booking.occurrence_index))
    )


def series_hosts(session: Session, series: BookingSeries, bookings: list[Booking]) -> list[str]:
    """The series' hosts: those of its first occurrence (every occurrence has the same)."""
    return (host_ids_of(session, bookings[0].id) if bookings else []) or [series.host_id]


def series_assignment(bookings: list[Booking]) -> Assignment | None:
    """How a round-robin series' host was chosen (its first occurrence's, as every occurrence's)."""
    found = bookings[0].assignment if bookings else None
    return msgspec.convert(found, Assignment) if found else None


def get_series(db: Database, principal: Principal, series_id: str) -> SeriesOut:
    with db.read() as session:
        series = _load(session, principal, series_id)
        bookings = occurrences_of(session, series.id)
        hosts = series_hosts(session, series, bookings)
        return to_out(series, [b.id for b in bookings], hosts, series_assignment(bookings))


def cancel_series(
    db: Database, principal: Principal, series_id: str, data: SeriesCancel, finish: Finish = no_finish
) -> SeriesOut:
    """Cancel the series' occurrences from ``from_booking_id`` on (``following``) or all of them,
    each as a single cancel is; occurrences that have started are never touched."""
    if data.scope == "following" and data.from_booking_id is None:
        raise FieldError("from_booking_id", "is required with `scope: following`")
    with finish.write(db) as session:  # claims the Idempotency-Key first, when one was sent
        series = _load(session, principal, series_id)
        bookings = occurrences_of(session, series.id)
        host_ids = series_hosts(session, series, bookings)
        assignment = series_assignment(bookings)
        first_index = 0
        if data.scope == "following":
            chosen = next((b for b in bookings if b.id == data.from_booking_id), None)
            if chosen is None:
                raise FieldError("from_booking_id", f"must be an occurrence of series {series.id}")
            first_index = chosen.occurrence_index or 0
        now = utcnow()
        todo = [
            b
            for b in bookings
            if (b.occurrence_index or 0) >= first_index and b.status == "confirmed" and b.start_at > now
        ]
        ids = [b.id for b in bookings]
        if todo or (data.scope == "all" and series.status != "cancelled"):
            for booking in todo:
                cancel_in(session, booking, data.reason, now)
            left = any(b.status == "confirmed" for b in bookings)
            series.status = "cancelled" if data.scope == "all" or not left else "active"
            series.cancellations = [*series.cancellations, to_rfc3339_utc(now)]
            series.updated_at = now
            emit(
                session,
                organization_id=series.organization_id,
                event_type="booking_series.cancelled",
                aggregate_type="booking_series",
                aggregate_id=series.id,
                payload={**msgspec.to_builtins(to_out(series, ids, host_ids, assignment)), "scope": data.scope},
            )
        out = to_out(series, ids, host_ids, assignment)
        finish(session, 200, out)
    return out
