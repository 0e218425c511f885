"""API key secrets: generated once, shown once, stored only as a SHA-256 hash.

Keys carry 256 random bits, so a fast hash is enough: nobody can brute-force the preimage,
and a lookup by hash needs no secret comparison at all.
"""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "hub_sk_"


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def display_prefix(key: str) -> str:
    """The part of a key that may be shown again later to recognise it (``hub_sk_AbCd1234``)."""
    return key[: len(KEY_PREFIX) + 8]
