"""The occurrences of a recurrence rule (pure, no I/O).

Occurrences are computed with ``dateutil.rrule`` on naive wall-clock times: every occurrence is
at the first one's local time of day on its own date, in the booking's zone, whatever the UTC
offset of that date (across DST changes). The first occurrence is the booking's start, so a
weekly rule's ``weekdays`` must include the start's weekday (RFC 5545 counts ``DTSTART`` as the
first instance; a start outside the rule would make Hub and calendar clients disagree).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Final

from dateutil import rrule

from hub.errors import FieldError
from hub.series.schemas import MAX_OCCURRENCES, Recurrence, RecurrenceIn

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FREQUENCIES: Final = {"daily": rrule.DAILY, "weekly": rrule.WEEKLY, "monthly": rrule.MONTHLY}
_RRULE_DAYS: Final = (rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU)
ICAL_DAYS: Final = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _until(value: str) -> date:
    try:
        if _DATE.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise FieldError("recurrence.until", "must be a date such as 2027-03-01 (YYYY-MM-DD)")


def normalized(data: RecurrenceIn, first: datetime) -> Recurrence:
    """The rule with its defaults filled in for a first occurrence at local wall time ``first``;
    contradictions raise ``422 validation_failed`` naming the field."""
    if (data.count is None) == (data.until is None):
        raise FieldError("recurrence", "send exactly one of `count` and `until`")
    weekdays: list[str] | None = None
    if data.weekdays is not None and data.frequency != "weekly":
        raise FieldError("recurrence.weekdays", "is only allowed with `frequency: weekly`")
    if data.frequency == "weekly":
        own = WEEKDAYS[first.weekday()]
        weekdays = sorted(
            {str(d) for d in data.weekdays or ()} | ({own} if not data.weekdays else set()), key=WEEKDAYS.index
        )
        if own not in weekdays:
            raise FieldError("recurrence.weekdays", f"must include the weekday of `start` ({own})")
    if data.until is not None and _until(data.until) < first.date():
        raise FieldError("recurrence.until", "must not be before the day of `start`")
    return Recurrence(data.frequency, data.interval, data.count, data.until, weekdays, data.on_conflict)


def occurrences(rule: Recurrence, first: datetime) -> list[datetime]:
    """Every occurrence's naive local start, the first being ``first``: at most ``MAX_OCCURRENCES``
    within a year of the first, else ``422 validation_failed``."""
    kwargs: dict[str, object] = {"dtstart": first, "interval": rule.interval}
    if rule.weekdays is not None:
        kwargs["byweekday"] = [_RRULE_DAYS[WEEKDAYS.index(d)] for d in rule.weekdays]
    if rule.count is not None:
        kwargs["count"] = rule.count
    else:
        assert rule.until is not None
        kwargs["until"] = datetime.combine(_until(rule.until), time.max)
    found: list[datetime] = []
    for start in rrule.rrule(_FREQUENCIES[rule.frequency], **kwargs):  # type: ignore[arg-type]
        if len(found) == MAX_OCCURRENCES:
            raise FieldError("recurrence.until", f"the rule makes more than {MAX_OCCURRENCES} occurrences")
        found.append(start)
    if len(found) < 2:
        raise FieldError("recurrence.until", "the rule makes only one occurrence; a series needs at least two")
    if found[-1] >= _a_year_after(first):
        field = "recurrence.count" if rule.count is not None else "recurrence.until"
        raise FieldError(field, "every occurrence must start within a year of the first")
    return found


def _a_year_after(first: datetime) -> datetime:
    try:
        return first.replace(year=first.year + 1)
    except ValueError:  # 29 February
        return first.replace(year=first.year + 1, day=28) + timedelta(days=1)


def ical_rule(rule: Recurrence, until: datetime | None = None) -> dict[str, object]:
    """The iCalendar ``RRULE`` of ``rule`` (``icalendar`` value form); ``until`` (aware UTC)
    replaces the rule's end, for a series cut short."""
    value: dict[str, object] = {"FREQ": rule.frequency.upper(), "INTERVAL": rule.interval}
    if rule.weekdays is not None:
        value["BYDAY"] = [ICAL_DAYS[WEEKDAYS.index(d)] for d in rule.weekdays]
    if until is not None:
        value["UNTIL"] = until
    elif rule.count is not None:
        value["COUNT"] = rule.count
    return value
