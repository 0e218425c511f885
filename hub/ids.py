"""Prefixed, time-ordered, URL-safe identifiers: ``bkg_01jd3w9k6v0m3y0q6d2x9t7h1e``.

The part after the prefix is a ULID in lower case (48-bit millisecond time + 80 random bits,
Crockford base32), so ids sort by creation time and are never reused.
"""

from __future__ import annotations

import re
from typing import Final

from ulid import ULID

PREFIXES: Final = {
    "organization": "org",
    "user": "usr",
    "booking": "bkg",
    "connection": "con",
    "calendar": "cal",
    "api_key": "key",
    "webhook_endpoint": "whe",
    "webhook_delivery": "whd",
    "event": "evt",
    "sync_run": "run",
    "audit_event": "aud",
    "outbox": "obx",
    "notification": "ntf",
    "channel": "chn",
    "hold": "hld",
    "series": "srs",
}

_ID_RE = re.compile(r"^(?P<prefix>[a-z]{3})_(?P<body>[0-9a-hjkmnp-tv-z]{26})$")


def new_id(kind: str) -> str:
    """A new id for an object of ``kind`` (a key of ``PREFIXES``)."""
    return f"{PREFIXES[kind]}_{str(ULID()).lower()}"


def is_valid(value: str, kind: str) -> bool:
    """Whether ``value`` is a well-formed id of ``kind``."""
    match = _ID_RE.match(value)
    return bool(match) and match.group("prefix") == PREFIXES[kind]  # type: ignore[union-attr]
