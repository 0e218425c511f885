"""Provider credentials at rest: AES-GCM ciphertext on the connection row, bound to its id."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import update

from hub.crypto import Keyring
from hub.db import Database
from hub.db.tables import Connection
from hub.errors import ReauthRequired


def seal(keyring: Keyring, connection_id: str, credentials: dict[str, Any]) -> bytes:
    return keyring.encrypt(msgspec.json.encode(credentials), f"connection:{connection_id}")


class StoredCredentials:
    """A ``CredentialStore`` over one connection row; saving re-encrypts under the newest key."""

    def __init__(self, db: Database, keyring: Keyring, connection: Connection) -> None:
        self.db = db
        self.keyring = keyring
        self.connection_id = connection.id
        if connection.credentials_ciphertext is None:
            raise ReauthRequired("this connection holds no credentials; link the account again")
        self._value: dict[str, Any] = msgspec.json.decode(
            keyring.decrypt(connection.credentials_ciphertext, f"connection:{connection.id}")
        )

    def get(self) -> dict[str, Any]:
        return dict(self._value)

    def save(self, credentials: dict[str, Any]) -> None:
        self._value = dict(credentials)
        with self.db.write() as session:
            session.execute(
                update(Connection)
                .where(Connection.id == self.connection_id)
                .values(credentials_ciphertext=seal(self.keyring, self.connection_id, credentials))
            )
