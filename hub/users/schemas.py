"""Wire shapes of user profiles."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from hub.text import EMAIL, line, text

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ClockTime = Annotated[str, msgspec.Meta(pattern=r"^\d{2}:\d{2}$", examples=["09:00", "24:00"])]
Name = Annotated[str, line(min_length=1, max_length=200)]
Email = Annotated[str, msgspec.Meta(pattern=EMAIL, max_length=320)]
TimezoneName = Annotated[str, text()]
Minutes = Annotated[int, msgspec.Meta(ge=0, le=10080)]


class WorkingHours(msgspec.Struct):
    weekday: Weekday
    start: ClockTime
    end: ClockTime


class UserCreate(msgspec.Struct):
    name: Name
    email: Email
    timezone: TimezoneName
    working_hours: list[WorkingHours] = []
    buffer_minutes: Minutes = 0
    minimum_notice_minutes: Annotated[int, msgspec.Meta(ge=0, le=525600)] = 0


class UserUpdate(msgspec.Struct):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    email: Email | msgspec.UnsetType = msgspec.UNSET
    timezone: TimezoneName | msgspec.UnsetType = msgspec.UNSET
    working_hours: list[WorkingHours] | msgspec.UnsetType = msgspec.UNSET
    buffer_minutes: Minutes | msgspec.UnsetType = msgspec.UNSET
    minimum_notice_minutes: Annotated[int, msgspec.Meta(ge=0, le=525600)] | msgspec.UnsetType = msgspec.UNSET


class UserOut(msgspec.Struct):
    id: str
    name: str
    email: str
    timezone: str
    working_hours: list[WorkingHours]
    buffer_minutes: int
    minimum_notice_minutes: int
    created_at: datetime
    updated_at: datetime
    object: str = "user"
