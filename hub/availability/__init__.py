"""Availability: working hours, busy time and free slots, as pure interval arithmetic."""

from __future__ import annotations

from hub.availability.engine import (
    WEEKDAYS,
    WorkingRange,
    conflicts,
    fits_working_hours,
    free_intervals,
    free_slots,
    merge_busy,
    parse_working_hours,
    stored_working_hours,
    team_slots,
    working_windows,
)

__all__ = [
    "WEEKDAYS",
    "WorkingRange",
    "conflicts",
    "fits_working_hours",
    "free_intervals",
    "free_slots",
    "merge_busy",
    "parse_working_hours",
    "stored_working_hours",
    "team_slots",
    "working_windows",
]
