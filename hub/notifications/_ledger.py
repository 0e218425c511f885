"""The send ledger: one ``EmailSend`` row per (outbox event, recipient).

A recipient with a ``sent`` row is never sent that event's message again; a ``failed`` row
(with the error's code and message) is tried again on the next run and becomes ``sent`` once
the message goes out. Rows are written right after each send, so a job that dies halfway
leaves the recipients it served recorded. A row is written by one upsert on its unique
(outbox event, recipient), not read and then written, in a Core transaction of its own
(``Database.begin``); the statements are built once (the upsert once per dialect) and only their
values change.
"""

from __future__ import annotations

from functools import cache
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hub.clock import utcnow
from hub.connectors import BookingNotice
from hub.db import Database
from hub.db.tables import EmailSend

_SENDS = cast(Table, EmailSend.__table__)


_SENT = select(_SENDS.c.recipient).where(_SENDS.c.outbox_id == bindparam("outbox_id"), _SENDS.c.status == "sent")


def already_sent(session: Session, outbox_id: str) -> set[str]:
    """The recipients the event's message already reached."""
    return set(session.scalars(_SENT, {"outbox_id": outbox_id}))


_OUTCOME = ("status", "message_id", "error", "sent_at")


@cache
def _upsert(dialect: str) -> Any:
    """The upsert of one row, built once per dialect (its values are bound at execution)."""
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    columns = ("organization_id", "outbox_id", "booking_id", "kind", "recipient", "created_at", *_OUTCOME)
    statement = insert(_SENDS).values({name: bindparam(name) for name in columns})
    return statement.on_conflict_do_update(
        index_elements=["outbox_id", "recipient"], set_={name: statement.excluded[name] for name in _OUTCOME}
    )


def record(
    db: Database,
    organization_id: str,
    outbox_id: str,
    notice: BookingNotice,
    recipient: str,
    message_id: str,
    error: str | None,
) -> None:
    """Insert or update the row of (outbox event, recipient): ``sent``, or ``failed`` with ``error``."""
    now = utcnow()
    row = {
        "organization_id": organization_id,
        "outbox_id": outbox_id,
        "booking_id": notice.booking_id,
        "kind": notice.kind,
        "recipient": recipient,
        "created_at": now,
        "status": "failed" if error else "sent",
        "message_id": message_id,
        "error": error,
        "sent_at": None if error else now,
    }
    with db.begin() as connection:
        connection.execute(_upsert(db.dialect), row)
