"""``hub secrets rotate``: re-encrypt every secret at rest under the newest key.

Run it after putting a new key first in ``HUB_SECRET_KEYS`` (keep the old ones listed until
it finishes); afterwards the old keys can be removed. Each row keeps its associated data, so
a ciphertext still cannot move to another row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update

from hub import idempotency
from hub.crypto import DecryptionError, Keyring
from hub.db import Database
from hub.db.tables import Connection, IdempotencyKey, OAuthState, WebhookEndpoint

# (table, key column, ciphertext column, associated data of a row)
_TARGETS: list[tuple[Any, Any, Any, Callable[[Any], str]]] = [
    (Connection, Connection.id, Connection.credentials_ciphertext, lambda row: f"connection:{row.id}"),
    (WebhookEndpoint, WebhookEndpoint.id, WebhookEndpoint.secret_ciphertext, lambda row: row.id),
    (OAuthState, OAuthState.state_hash, OAuthState.flow_ciphertext, lambda row: f"oauth:{row.state_hash}"),
    (
        IdempotencyKey,
        IdempotencyKey.id,
        IdempotencyKey.response_body,
        lambda row: idempotency.associated_data(row.api_key_id, row.key),
    ),
]


def rotate(db: Database, keyring: Keyring) -> dict[str, int]:
    """Re-encrypt what is not yet under the newest key; returns how many rows per table, and
    under ``unreadable`` how many rows none of the configured keys can open (they are left as
    they are: put the missing key back in ``HUB_SECRET_KEYS`` and run again)."""
    counts: dict[str, int] = {"unreadable": 0}
    for table, key_column, column, associated in _TARGETS:
        with db.read() as session:
            rows = list(session.scalars(select(table).where(column.is_not(None))))
        changed = 0
        for row in rows:
            blob = getattr(row, column.key)
            if not keyring.needs_rotation(blob):
                continue
            try:
                rotated = keyring.rotate(blob, associated(row))
            except DecryptionError:
                counts["unreadable"] += 1
                continue
            with db.write() as session:
                session.execute(
                    update(table)
                    .where(key_column == getattr(row, key_column.key), column == blob)
                    .values({column.key: rotated})
                )
            changed += 1
        counts[table.__tablename__] = changed
    return counts
