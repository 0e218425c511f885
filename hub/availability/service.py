"""Free slots for a host or a team: loads the profiles, busy time and calendar health, asks the
pure engine."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy.engine import Connection as SQLConnection

from hub.auth.principal import Principal
from hub.availability.busy import busy_times_for, epoch, from_epoch
from hub.availability.cache import SLOTS
from hub.availability.calendars import AvailabilityWarning, CalendarHealth, calendar_health
from hub.availability.engine import free_intervals, free_slots, team_slots
from hub.clock import utcnow
from hub.db import Database
from hub.errors import FieldError
from hub.observability.metrics import AVAILABILITY
from hub.times import epoch_to_local_rfc3339, load_zone, parse_instant
from hub.users.service import HostProfile, load_profiles

MAX_WINDOW = timedelta(days=62)
MIN_STEP_MINUTES, MAX_STEP_MINUTES = 5, 1440
MAX_USERS = 20
ANSWERS_FROM_MEMORY, COMPUTED = AVAILABILITY.labels("memory"), AVAILABILITY.labels("computed")


# Not tracked by the garbage collector (it holds no reference cycles): an answer makes hundreds.
class Slot(msgspec.Struct, gc=False):
    start: datetime
    end: datetime
    local_start: str
    local_end: str
    user_ids: list[str]  # exactly the users free for the slot, in the order they were asked for


class Availability(msgspec.Struct):
    user_id: str  # the user asked about; for several, the first of ``user_ids``
    timezone: str
    duration_minutes: int
    interval_minutes: int
    start: datetime
    end: datetime
    slots: list[Slot]
    user_ids: list[str]
    required: int
    calendars: list[CalendarHealth]
    warnings: list[AvailabilityWarning]
    object: str = "availability"


def availability(
    db: Database,
    principal: Principal,
    *,
    user_id: str | None,
    user_ids: str | None = None,
    required: str | None = None,
    start: str,
    end: str,
    duration_minutes: int,
    interval_minutes: int | None,
    timezone: str | None,
) -> Availability:
    ids = _asked_users(user_id, user_ids)
    needed = _required(required, len(ids))
    if interval_minutes is not None and not MIN_STEP_MINUTES <= interval_minutes <= MAX_STEP_MINUTES:
        # The controller's bounds do not reach an optional parameter: without this check 0 was
        # silently ignored and a negative step answered 500.
        raise FieldError("interval_minutes", f"must be {MIN_STEP_MINUTES} to {MAX_STEP_MINUTES} minutes")
    now = utcnow()
    with db.connect() as connection:
        users = load_profiles(connection, principal.organization_id, ids)
        view_zone = load_zone(timezone) if timezone else ZoneInfo(users[0].timezone)
        window_start = parse_instant(start, field="start", zone=view_zone)
        window_end = parse_instant(end, field="end", zone=view_zone)
        if window_end <= window_start:
            raise FieldError("end", "must be after `start`")
        if window_end - window_start > MAX_WINDOW:
            raise FieldError("end", "the window may span at most 62 days")
        step = interval_minutes or duration_minutes
        window = (epoch(window_start), epoch(window_end))
        if len(users) == 1:
            slots = _user_slots(connection, principal.organization_id, users[0], window, duration_minutes, step,
                                view_zone, now)  # fmt: skip
        else:
            widest = timedelta(minutes=max(user.buffer_minutes for user in users))
            busy = busy_times_for(connection, ids, window_start - widest, window_end + widest, now=now).times
        calendars, warnings = calendar_health(connection, principal.organization_id, ids, now)
    if len(users) > 1:
        COMPUTED.inc()
        found = _team_slots(users, busy, window, duration_minutes, step, needed, now)
        slots = [Slot(*_span(s, e, view_zone), [ids[m] for m in members]) for s, e, members in found]
    return Availability(
        user_id=ids[0],
        timezone=view_zone.key,
        duration_minutes=duration_minutes,
        interval_minutes=step,
        start=window_start,
        end=window_end,
        slots=slots,
        user_ids=ids,
        required=needed,
        calendars=calendars,
        warnings=warnings,
    )


def _user_slots(
    connection: SQLConnection,
    organization_id: str,
    user: HostProfile,
    window: tuple[int, int],
    duration_minutes: int,
    step: int,
    view_zone: ZoneInfo,
    now: datetime,
) -> list[Slot]:
    """One user's slots, remembered (``hub.availability.cache``) under the user's busy version
    and everything else they depend on, for as long as time alone cannot change them."""
    key = (
        organization_id,
        user.id,
        user.busy_version,
        user.timezone,
        user.ranges(),
        user.buffer_minutes,
        user.minimum_notice_minutes,
        window,
        duration_minutes,
        step,
        view_zone.key,
    )
    remembered = SLOTS.get(key, now)
    if remembered is not None:
        ANSWERS_FROM_MEMORY.inc()
        return remembered
    buffer = user.buffer_minutes * 60
    busy = busy_times_for(
        connection, [user.id], from_epoch(window[0] - buffer), from_epoch(window[1] + buffer), now=now
    )
    found = _free_slots(user, busy.times[user.id], window, duration_minutes, step, now)
    # Valid while no hold read expires, and while the notice has not passed the first slot:
    # ``earliest`` is epoch(now) + notice, and the first slot stays while ``earliest`` is not after it.
    until = min(
        math.inf if busy.first_expiry is None else busy.first_expiry,
        math.inf if not found else found[0][0] - user.minimum_notice_minutes * 60 + 1,
    )
    COMPUTED.inc()
    asked = [user.id]  # one list for every slot: nothing changes a slot once made
    slots = [Slot(*_span(s, e, view_zone), asked) for s, e in found]
    SLOTS.put(key, slots, computed_at=now, until=until)
    return slots


@lru_cache(maxsize=16384)
def _span(start: int, end: int, zone: ZoneInfo) -> tuple[datetime, datetime, str, str]:
    """A slot's instants in UTC and as wall-clock time in ``zone``: the fields of ``Slot`` but
    its users. Remembered: they depend on nothing else, and answers render the same slots again
    and again (every slot of the days people ask about), where rendering with the zone's offset
    costs many lookups."""
    return from_epoch(start), from_epoch(end), epoch_to_local_rfc3339(start, zone), epoch_to_local_rfc3339(end, zone)


def _asked_users(user_id: str | None, user_ids: str | None) -> list[str]:
    """The ids asked about: ``user_id``, or the comma-separated ``user_ids`` (1 to 20, no repeats)."""
    if user_id is not None and user_ids is not None:
        raise FieldError("user_ids", "send either `user_id` or `user_ids`, not both")
    if user_ids is None:
        if user_id is None:
            raise FieldError("user_id", "a user id is required (or `user_ids` for several users)")
        return [user_id]
    ids = [item.strip() for item in user_ids.split(",")]
    if not all(ids):
        raise FieldError("user_ids", "must be user ids separated by commas, without empty items")
    if len(ids) > MAX_USERS:
        raise FieldError("user_ids", f"at most {MAX_USERS} users")
    repeated = next((item for index, item in enumerate(ids) if item in ids[:index]), None)
    if repeated is not None:
        raise FieldError("user_ids", f"{repeated!r} is listed more than once")
    return ids


def _required(value: str | None, count: int) -> int:
    """How many of ``count`` users must be free: ``all`` (the default) or a number from 1 to ``count``."""
    if value is None or value == "all":
        return count
    if value.isascii() and value.isdigit() and 1 <= int(value) <= count:
        return int(value)
    raise FieldError("required", f"must be `all` or a whole number from 1 to {count} (the number of users)")


def _free_slots(
    user: HostProfile,
    busy: list[tuple[int, int]],
    window: tuple[int, int],
    duration_minutes: int,
    step: int,
    now: datetime,
) -> list[tuple[int, int]]:
    """One user's slots, aligned to the start of each working range."""
    return free_slots(
        hours=user.ranges(),
        tz=ZoneInfo(user.timezone),
        start=window[0],
        end=window[1],
        busy=busy,
        duration=duration_minutes * 60,
        step=step * 60,
        buffer=user.buffer_minutes * 60,
        earliest=epoch(now + timedelta(minutes=user.minimum_notice_minutes)),
    )


def _team_slots(
    users: list[HostProfile],
    busy: dict[str, list[tuple[int, int]]],
    window: tuple[int, int],
    duration_minutes: int,
    step: int,
    required: int,
    now: datetime,
) -> list[tuple[int, int, tuple[int, ...]]]:
    """Slots of several users stepping from the window's start, where at least ``required`` are
    free; each user's own hours, zone, buffer, notice and busy time decide when that user is."""
    free = [
        free_intervals(
            hours=user.ranges(),
            tz=ZoneInfo(user.timezone),
            start=window[0],
            end=window[1],
            busy=busy[user.id],
            buffer=user.buffer_minutes * 60,
            earliest=epoch(now + timedelta(minutes=user.minimum_notice_minutes)),
            min_length=duration_minutes * 60,
        )
        for user in users
    ]
    return team_slots(
        free, start=window[0], end=window[1], duration=duration_minutes * 60, step=step * 60, required=required
    )
