"""The notices of recurring bookings: attendees get one invitation per series (iTIP, RFC 5546).

* ``booking_series.created``: one ``REQUEST`` of the whole series (``RRULE``, ``EXDATE`` for the
  skipped occurrences). The occurrences' own ``booking.created`` events notify nobody.
* A series with conferencing: every occurrence has a conference of its own. The invitation is
  held while any is pending and sent by the ``booking.updated`` that settles the last one
  (``completes_series``), carrying the links: one shared by every occurrence on the series'
  VEVENT, else each occurrence's on an override VEVENT of it (``RECURRENCE-ID``).
* One occurrence moved or cancelled through its booking routes: that occurrence alone
  (``RECURRENCE-ID``; ``REQUEST`` with its new times, or ``CANCEL``).
* ``booking_series.cancelled``: nothing left confirmed → ``CANCEL`` of the series' ``UID``;
  occurrences left (``following``, or ``all`` with past ones kept) → a ``REQUEST`` of the series
  as it now is, its ``RRULE`` ending (``UNTIL``) at the last occurrence left. The occurrences
  that cancel cancelled notify nobody on their own (their ``cancelled_at`` is the cancel's).

Every notice is built from the series as it is when the job runs, so a late job never brings
back an older state. Its ``SEQUENCE`` is the sum of the occurrences' versions plus the number
of series cancels: it grows with every change of the series or of any occurrence.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.connectors import BookingNotice, Moved, NoticeKind, Recipient, RepeatRule, SeriesPart
from hub.db.tables import Booking, BookingHost, BookingSeries, User
from hub.errors import PermanentError
from hub.times import to_rfc3339_utc


class Event(Protocol):
    """What a series notice reads of its outbox event (a row, or ``hub.bookings.outbox.Event``)."""

    @property
    def event_type(self) -> str: ...

    @property
    def aggregate_id(self) -> str: ...

    @property
    def created_at(self) -> datetime: ...


def _planned(series: BookingSeries) -> list[datetime]:
    return [datetime.fromisoformat(s.replace("Z", "+00:00")) for s in series.starts]


def _bookings(session: Session, series_id: str) -> list[Booking]:
    return list(
        session.scalars(select(Booking).where(Booking.series_id == series_id).order_by(Booking.occurrence_index))
    )


def sequence(series: BookingSeries, bookings: list[Booking]) -> int:
    return sum(b.sequence for b in bookings) + len(series.cancellations)


def _hosts(session: Session, series: BookingSeries, model: Booking) -> list[Recipient]:
    """The series' hosts, its own host first: every host of a collective series (its first
    occurrence's ``booking_hosts``), so the invitation names them all."""
    host_ids = list(
        session.scalars(
            select(BookingHost.host_id).where(BookingHost.booking_id == model.id).order_by(BookingHost.position)
        )
    ) or [series.host_id]
    hosts = []
    for host_id in host_ids:
        host = session.get(User, host_id)
        if host is None:
            raise PermanentError(f"host {host_id} of {series.id} does not exist", code="email_host_missing")
        hosts.append(Recipient(host.email, host.name))
    return hosts


def _notice(
    session: Session, row: BookingSeries, bookings: list[Booking], message: Event, **fields: object
) -> BookingNotice:
    model = bookings[0]
    host, *co_hosts = _hosts(session, row, model)
    values: dict[str, object] = {
        "booking_id": row.id,
        "sequence": sequence(row, bookings),
        "title": model.title,
        "timezone": row.timezone,
        "host": host,
        "co_hosts": tuple(co_hosts),
        "attendees": tuple(Recipient(a["email"], a.get("name")) for a in model.attendees),
        "stamp": message.created_at,
        **fields,
    }
    return BookingNotice(**values)  # type: ignore[arg-type]


def series_notice(session: Session, message: Event) -> BookingNotice | None:
    """The notice of a ``booking_series.*`` event: the whole series as it is now. A series whose
    occurrences have conferences is announced by the settle that completes them
    (``settled_notice``), not by its ``booking_series.created``; nor does a later series event
    send the series while a conference is still pending."""
    series = session.get(BookingSeries, message.aggregate_id)
    bookings = _bookings(session, message.aggregate_id)
    if series is None or not bookings:
        return None
    if message.event_type == "booking_series.created" and any(b.conferencing for b in bookings):
        return None
    return _whole(session, series, bookings, message)


def settled_notice(session: Session, message: Event, booking: Booking) -> BookingNotice | None:
    """The series' one invitation, sent by the ``booking.updated`` that settled its last pending
    conference (marked ``completes_series`` when it settled); None for any other settle."""
    if booking.series_id is None or not (booking.conferencing or {}).get("completes_series"):
        return None
    series = session.get(BookingSeries, booking.series_id)
    bookings = _bookings(session, booking.series_id)
    if series is None:
        return None
    return _whole(session, series, bookings, message)


def _join_url(booking: Booking) -> str | None:
    stored = booking.conferencing or {}
    return str(stored["join_url"]) if stored.get("status") == "ready" and stored.get("join_url") else None


def series_links(
    confirmed: dict[int, Booking], planned: list[datetime], length: timedelta
) -> tuple[str | None, tuple[Moved, ...]]:
    """The link every occurrence shares (on the series' VEVENT), and the occurrences told apart
    from the rule: moved ones, and, when the links differ, each one with a link of its own."""
    links = {i: _join_url(b) for i, b in confirmed.items()}
    shared = set(links.values())
    common = shared.pop() if len(shared) == 1 else None
    overrides = tuple(
        Moved(planned[i], b.start_at, b.end_at, links[i])
        for i, b in sorted(confirmed.items())
        if (b.start_at, b.end_at) != (planned[i], planned[i] + length) or (common is None and links[i] is not None)
    )
    return common, overrides


def _whole(session: Session, series: BookingSeries, bookings: list[Booking], message: Event) -> BookingNotice | None:
    planned, length = _planned(series), timedelta(seconds=series.duration_seconds)
    rule = series.recurrence
    weekdays = tuple(rule.get("weekdays") or ())
    confirmed = {b.occurrence_index: b for b in bookings if b.status == "confirmed" and b.occurrence_index is not None}
    if not confirmed:
        if message.event_type != "booking_series.cancelled":
            return None  # cancelled before its invitation went out: the cancel's job tells everyone
        whole = RepeatRule(rule["frequency"], rule["interval"], weekdays, until=planned[-1])
        part = SeriesPart(series.id, rule=whole)
        return _notice(
            session,
            series,
            bookings,
            message,
            kind="cancellation",
            start=planned[0],
            end=planned[0] + length,
            series=part,
        )
    if any((b.conferencing or {}).get("status") == "pending" for b in confirmed.values()):
        return None  # the settle of the last pending conference sends the series, with the links
    last = max(confirmed)
    whole_rule = last == len(planned) - 1 and rule.get("count") is not None
    repeat = RepeatRule(
        rule["frequency"],
        rule["interval"],
        weekdays,
        count=rule["count"] if whole_rule else None,
        until=None if whole_rule else planned[last],
    )
    common, overrides = series_links(confirmed, planned, length)
    part = SeriesPart(
        series.id,
        rule=repeat,
        excluded=tuple(planned[i] for i in range(last + 1) if i not in confirmed),
        moved=overrides,
    )
    kind: NoticeKind = "confirmation"
    return _notice(
        session,
        series,
        bookings,
        message,
        kind=kind,
        start=planned[0],
        end=planned[0] + length,
        series=part,
        join_url=common,
    )


def occurrence_notice(session: Session, notice: BookingNotice, series_id: str, index: int) -> BookingNotice | None:
    """``notice`` (one booking's) as the occurrence of its series it is; None when the series'
    own notice covers it (a booking created with the series, or cancelled by a series cancel)."""
    series = session.get(BookingSeries, series_id)
    booking = session.get(Booking, notice.booking_id)
    if series is None or booking is None or notice.kind == "confirmation":
        return None
    cancelled_at = booking.cancelled_at
    if notice.kind == "cancellation" and cancelled_at and to_rfc3339_utc(cancelled_at) in series.cancellations:
        return None
    planned = _planned(series)
    part = SeriesPart(series.id, recurrence_id=planned[index])
    return BookingNotice(
        **{
            **{f: getattr(notice, f) for f in notice.__struct_fields__},
            "sequence": sequence(series, _bookings(session, series_id)),
            "series": part,
        }
    )
