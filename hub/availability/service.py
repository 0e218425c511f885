"""Free slots for a host: loads the profile and busy time, asks the pure engine."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec

from hub.auth.principal import Principal
from hub.availability.busy import busy_blocks, epoch, from_epoch
from hub.availability.engine import free_slots, parse_working_hours
from hub.clock import utcnow
from hub.db import Database
from hub.errors import FieldError
from hub.times import epoch_to_local_rfc3339, load_zone, parse_instant
from hub.users.service import load_user

MAX_WINDOW = timedelta(days=62)
MIN_STEP_MINUTES, MAX_STEP_MINUTES = 5, 1440


class Slot(msgspec.Struct):
    start: datetime
    end: datetime
    local_start: str
    local_end: str


class Availability(msgspec.Struct):
    user_id: str
    timezone: str
    duration_minutes: int
    interval_minutes: int
    start: datetime
    end: datetime
    slots: list[Slot]
    object: str = "availability"


def availability(
    db: Database,
    principal: Principal,
    *,
    user_id: str,
    start: str,
    end: str,
    duration_minutes: int,
    interval_minutes: int | None,
    timezone: str | None,
) -> Availability:
    if interval_minutes is not None and not MIN_STEP_MINUTES <= interval_minutes <= MAX_STEP_MINUTES:
        # The controller's bounds do not reach an optional parameter: without this check 0 was
        # silently ignored and a negative step answered 500.
        raise FieldError("interval_minutes", f"must be {MIN_STEP_MINUTES} to {MAX_STEP_MINUTES} minutes")
    with db.read() as session:
        user = load_user(session, principal.organization_id, user_id)
        host_zone = ZoneInfo(user.timezone)
        view_zone = load_zone(timezone) if timezone else host_zone
        window_start = parse_instant(start, field="start", zone=view_zone)
        window_end = parse_instant(end, field="end", zone=view_zone)
        if window_end <= window_start:
            raise FieldError("end", "must be after `start`")
        if window_end - window_start > MAX_WINDOW:
            raise FieldError("end", "the window may span at most 62 days")
        buffer = timedelta(minutes=user.buffer_minutes)
        busy = busy_blocks(session, user.id, window_start - buffer, window_end + buffer)
    hours = parse_working_hours([(h["weekday"], h["start"], h["end"]) for h in user.working_hours])
    step = interval_minutes or duration_minutes
    slots = free_slots(
        hours=hours,
        tz=host_zone,
        start=epoch(window_start),
        end=epoch(window_end),
        busy=[b.as_interval() for b in busy],
        duration=duration_minutes * 60,
        step=step * 60,
        buffer=int(buffer.total_seconds()),
        earliest=epoch(utcnow() + timedelta(minutes=user.minimum_notice_minutes)),
    )
    return Availability(
        user_id=user.id,
        timezone=view_zone.key,
        duration_minutes=duration_minutes,
        interval_minutes=step,
        start=window_start,
        end=window_end,
        slots=[
            Slot(
                start=from_epoch(s),
                end=from_epoch(e),
                local_start=epoch_to_local_rfc3339(s, view_zone),
                local_end=epoch_to_local_rfc3339(e, view_zone),
            )
            for s, e in slots
        ],
    )
