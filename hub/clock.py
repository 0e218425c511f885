"""The one source of "now", so tests can move time without patching the standard library."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
