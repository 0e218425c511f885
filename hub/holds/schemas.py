"""Wire shapes of holds."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from hub.bookings.schemas import Field, HostIds
from hub.text import text
from hub.users.schemas import TimezoneName

MIN_TTL, MAX_TTL, DEFAULT_TTL = 30, 3600, 300


class HoldCreate(msgspec.Struct, kw_only=True):
    host_id: Field | None = None
    """Exactly one of ``host_id`` and ``host_ids`` (a hold of several hosts' time)."""
    start: Annotated[str, text(examples=["2026-12-07T09:00:00", "2026-12-07T08:00:00Z"])]
    end: Field | None = None
    duration_minutes: Annotated[int, msgspec.Meta(ge=1, le=1440)] | None = None
    timezone: TimezoneName | None = None
    ttl_seconds: Annotated[int, msgspec.Meta(ge=MIN_TTL, le=MAX_TTL)] = DEFAULT_TTL
    ignore_availability: bool = False
    host_ids: HostIds | None = None


class HoldOut(msgspec.Struct):
    id: str
    host_id: str
    start: datetime
    end: datetime
    timezone: str
    status: Literal["active", "expired", "converted", "released"]
    expires_at: datetime
    booking_id: str | None
    created_at: datetime
    host_ids: list[str] = []
    """Every host whose time the hold blocks; the first is ``host_id``."""
    object: str = "hold"
