"""Key rotation: the newest key encrypts, all keys decrypt, ``rotate`` moves rows to the newest."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from connectors.caldav.schemas import Account
from hub.auth.service import bootstrap_key
from hub.clock import utcnow
from hub.connections.credentials import StoredCredentials, seal
from hub.crypto import DecryptionError, Keyring
from hub.db import Database
from hub.db.tables import Connection, User
from hub.ids import new_id
from hub.secrets_rotation import rotate

OLD, NEW = "old-secret-key-0123456789", "new-secret-key-9876543210"


def test_newest_encrypts_all_decrypt_and_rows_are_bound() -> None:
    old, both = Keyring([OLD]), Keyring([NEW, OLD])
    blob = old.encrypt(b"token", "connection:con_1")
    assert both.decrypt(blob, "connection:con_1") == b"token"
    assert both.needs_rotation(blob)
    rotated = both.rotate(blob, "connection:con_1")
    assert not both.needs_rotation(rotated)
    assert Keyring([NEW]).decrypt(rotated, "connection:con_1") == b"token"
    with pytest.raises(DecryptionError):
        both.decrypt(blob, "connection:con_2")  # moved to another row: refused
    with pytest.raises(DecryptionError):
        Keyring([NEW]).decrypt(blob, "connection:con_1")  # the old key is gone


def add_connection(db: Database, provider: str, credentials: dict[str, Any]) -> str:
    """A connection of ``provider`` whose credentials are sealed with the old key only."""
    organization_id, _ = bootstrap_key(db, f"org-{uuid.uuid4().hex[:8]}")
    now = utcnow()
    user_id, connection_id = new_id("user"), new_id("connection")
    with db.write() as session:
        session.add(
            User(
                id=user_id,
                organization_id=organization_id,
                name="A",
                email="a@example.com",
                timezone="UTC",
                working_hours=[],
                buffer_minutes=0,
                minimum_notice_minutes=0,
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()
        session.add(
            Connection(
                id=connection_id,
                organization_id=organization_id,
                user_id=user_id,
                provider=provider,
                account_id=uuid.uuid4().hex,
                account_email="a@example.com",
                status="active",
                credentials_ciphertext=seal(Keyring([OLD]), connection_id, credentials),
                scopes=[],
                consecutive_failures=0,
                created_at=now,
                updated_at=now,
            )
        )
    return connection_id


def test_rotate_re_encrypts_connection_credentials(db: Database) -> None:
    connection_id = add_connection(db, "google", {"refresh_token": "r"})
    keyring = Keyring([NEW, OLD])
    counts = rotate(db, keyring)
    assert counts["connections"] >= 1
    with db.read() as session:
        row = session.get(Connection, connection_id)
    assert row is not None
    assert row.credentials_ciphertext is not None
    assert not keyring.needs_rotation(row.credentials_ciphertext)
    assert StoredCredentials(db, Keyring([NEW]), row).get() == {"refresh_token": "r"}
    before = row.credentials_ciphertext
    rotate(db, keyring)  # nothing left to do for this row
    with db.read() as session:
        again = session.get(Connection, connection_id)
    assert again is not None
    assert again.credentials_ciphertext == before


def test_rotate_re_encrypts_a_caldav_app_password(db: Database) -> None:
    account = {
        "server_url": "https://caldav.example.com/",
        "principal_url": "https://caldav.example.com/alice/",
        "home_url": "https://caldav.example.com/alice/calendars/",
        "username": "alice",
        "password": "app-pass-rotate-1234",
    }
    connection_id = add_connection(db, "caldav", account)
    keyring = Keyring([NEW, OLD])
    assert rotate(db, keyring)["connections"] >= 1
    with db.read() as session:
        row = session.get(Connection, connection_id)
    assert row is not None
    assert row.credentials_ciphertext is not None
    assert not keyring.needs_rotation(row.credentials_ciphertext)
    assert b"app-pass-rotate-1234" not in row.credentials_ciphertext
    # the connector reads the password back through the new key alone; the old key is not needed
    stored = StoredCredentials(db, Keyring([NEW]), row)
    assert Account.of(stored).password == "app-pass-rotate-1234"
    with pytest.raises(DecryptionError):
        StoredCredentials(db, Keyring([OLD]), row).get()
