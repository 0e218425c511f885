"""Conferencing links of bookings: which calendar makes the conference a create asks for, and
the booking's conference as the API shows it.

A create with ``conferencing.provider`` other than ``none`` is checked against what the host's
booking-target calendars can make (each calendar's ``conferencing``, listed from the provider
when the account was linked): ``auto`` takes the native conference of the first target calendar
that has one, ``google_meet`` / ``teams`` a target calendar that allows it. None can →
``422 conferencing_unavailable``; a booking is never made without the link it asked for.

The chosen calendar is kept in the booking's ``conferencing`` (never shown); the calendar write
job asks for the conference there and records what the provider answers
(``hub.connections._conference``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.bookings.schemas import Conferencing, ConferencingOut
from hub.connectors import CONFERENCE_KINDS
from hub.db.tables import Calendar, Connection
from hub.errors import ApiError

NAMES = {"google_meet": "Google Meet", "teams": "Microsoft Teams"}


def choose(session: Session, host_id: str, wanted: Conferencing | None) -> dict[str, Any] | None:
    """The booking's ``conferencing`` column for what the create asks for (None for ``none``),
    or ``422 conferencing_unavailable``."""
    if wanted is None or wanted.provider == "none":
        return None
    targets = session.execute(
        select(Calendar.id, Calendar.conferencing)
        .join(Connection, Connection.id == Calendar.connection_id)
        .where(
            Connection.user_id == host_id,
            Connection.status == "active",
            Calendar.booking_target.is_(True),
            Calendar.removed_at.is_(None),
        )
        .order_by(Calendar.created_at, Calendar.id)
    ).all()
    for calendar_id, kinds in targets:
        allowed = [k for k in (kinds or []) if k in CONFERENCE_KINDS]
        kind = (allowed[0] if allowed else None) if wanted.provider == "auto" else wanted.provider
        if kind is not None and kind in allowed:
            return {"provider": kind, "status": "pending", "join_url": None, "error": None, "calendar_id": calendar_id}
    raise _unavailable(wanted.provider, bool(targets))


def _unavailable(provider: str, has_targets: bool) -> ApiError:
    if not has_targets:
        why = "the host has no linked calendar to write bookings into"
    elif provider == "auto":
        why = "none of the host's booking-target calendars can make a conference"
    else:
        why = f"none of the host's booking-target calendars can make a {NAMES.get(provider, provider)} conference"
    return ApiError(
        f"The booking asks for a conferencing link, but {why}. Send conferencing.provider `none`, or link a "
        "calendar that offers it (Google Meet: a Google calendar; Teams: a Microsoft 365 calendar that allows "
        "teamsForBusiness) and make it the booking target.",
        code="conferencing_unavailable",
        status=422,
        title="Conferencing unavailable",
    )


def to_public(stored: dict[str, Any] | None) -> ConferencingOut | None:
    if not stored:
        return None
    return ConferencingOut(
        provider=stored["provider"],
        status=stored.get("status", "pending"),
        join_url=stored.get("join_url"),
        error=stored.get("error"),
    )
