"""The wire shape of a round-robin choice, shared by bookings and booking series."""

from __future__ import annotations

from typing import Literal

import msgspec


class Assignment(msgspec.Struct):
    """How Hub chose a round-robin booking's host."""

    strategy: Literal["least_booked"]
    pool: list[str]
    reason: str
