"""Signed values for the dashboard: the session cookie, flash messages, CSRF tokens, relink links.

Each value is ``base64url(payload) "." base64url(HMAC-SHA256(key, purpose "|" payload))``. The
key is derived with HKDF from Hub's secret keys (``HUB_SECRET_KEYS``, newest first; the
generated development key when none are set), so the dashboard never needs a secret of its
own. The newest key signs and every configured key verifies, which keeps sessions valid
across a key rotation. The ``purpose`` is part of the MAC: a value signed for one use (a flash
message) is never accepted for another (a session).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hub.crypto import secret_material
from hub.settings import Settings


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"hub-dashboard-v1", info=b"hmac-sha256").derive(
        secret.encode()
    )


class Signer:
    """HMAC-SHA256 signatures under keys derived from ``secrets`` (newest first)."""

    def __init__(self, secrets: list[str]) -> None:
        if not secrets:
            raise ValueError("at least one secret is required")
        self._keys = [_derive(secret) for secret in secrets]

    def _mac(self, key: bytes, purpose: str, payload: bytes) -> bytes:
        return hmac.new(key, purpose.encode() + b"|" + payload, hashlib.sha256).digest()

    def sign(self, payload: bytes, purpose: str) -> str:
        """``payload`` with its signature, as one URL- and cookie-safe string."""
        return f"{_b64encode(payload)}.{_b64encode(self._mac(self._keys[0], purpose, payload))}"

    def unsign(self, token: str, purpose: str) -> bytes | None:
        """The payload of a value this Hub signed for ``purpose``; ``None`` for anything else."""
        body, dot, signature = token.partition(".")
        if not dot or not body or not signature:
            return None
        try:
            payload, given = _b64decode(body), _b64decode(signature)
        except (binascii.Error, ValueError):
            return None
        if any(hmac.compare_digest(self._mac(key, purpose, payload), given) for key in self._keys):
            return payload
        return None

    def digest(self, value: str, purpose: str) -> str:
        """A deterministic token for ``value`` (hex), e.g. the CSRF token of a session nonce."""
        return self._mac(self._keys[0], purpose, value.encode()).hex()

    def matches(self, value: str, purpose: str, token: str) -> bool:
        """Whether ``token`` is ``digest(value, purpose)`` under any configured key (constant time)."""
        given = token.encode()
        return any(
            hmac.compare_digest(self._mac(key, purpose, value.encode()).hex().encode(), given) for key in self._keys
        )


def signer_for(settings: Settings) -> Signer:
    """The signer of this Hub: its configured secret keys, or the development key file."""
    return Signer(secret_material(settings))
