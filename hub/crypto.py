"""Secrets at rest: AES-256-GCM with key rotation.

Keys come from ``HUB_SECRET_KEYS`` (comma-separated, newest first): the newest encrypts, all
decrypt. Each ciphertext names its key by a short fingerprint, and callers pass associated
data (for example the owning row's id) so a ciphertext copied to another row fails to decrypt.
When no keys are configured (the embedded development setup) a random key is generated once
into ``<data dir>/secret.key`` with mode 0600.

Layout: ``b"\\x01" | key fingerprint (4 bytes) | nonce (12 bytes) | ciphertext+tag``.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hub.files import create_private, private_dir
from hub.settings import Settings

_VERSION = b"\x01"


class DecryptionError(ValueError):
    """The ciphertext was not made by any configured key for this associated data."""


def _derive(secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"hub-secrets-v1", info=b"aes-gcm").derive(secret.encode())


class Keyring:
    def __init__(self, secrets_newest_first: list[str]) -> None:
        if not secrets_newest_first:
            raise ValueError("at least one secret key is required")
        self._keys = [(hashlib.sha256(s.encode()).digest()[:4], AESGCM(_derive(s))) for s in secrets_newest_first]

    def encrypt(self, plaintext: bytes, associated_data: str) -> bytes:
        fingerprint, aead = self._keys[0]
        nonce = os.urandom(12)
        return _VERSION + fingerprint + nonce + aead.encrypt(nonce, plaintext, associated_data.encode())

    def decrypt(self, blob: bytes, associated_data: str) -> bytes:
        if len(blob) < 17 + 16 or blob[:1] != _VERSION:
            raise DecryptionError("not a Hub ciphertext")
        fingerprint, nonce, body = blob[1:5], blob[5:17], blob[17:]
        for candidate, aead in self._keys:
            if candidate == fingerprint:
                try:
                    return aead.decrypt(nonce, body, associated_data.encode())
                except Exception as exc:  # cryptography raises InvalidTag
                    raise DecryptionError("ciphertext does not match its key or associated data") from exc
        raise DecryptionError("encrypted with a key that is no longer configured in HUB_SECRET_KEYS")

    def needs_rotation(self, blob: bytes) -> bool:
        return blob[1:5] != self._keys[0][0]

    def rotate(self, blob: bytes, associated_data: str) -> bytes:
        """Re-encrypt under the newest key (used by ``hub secrets rotate``)."""
        return self.encrypt(self.decrypt(blob, associated_data), associated_data)


def secret_material(settings: Settings) -> list[str]:
    """The configured secret keys, newest first (or the generated development key)."""
    return list(settings.secret_keys) if settings.secret_keys else [_development_key(settings.data_dir)]


def keyring_for(settings: Settings) -> Keyring:
    return Keyring(secret_material(settings))


def _development_key(data_dir: Path) -> str:
    path = data_dir / "secret.key"
    if not path.exists():
        private_dir(data_dir)
        with os.fdopen(create_private(path), "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip()
