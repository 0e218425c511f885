"""The send ledger: one ``EmailSend`` row per (outbox event, recipient).

A recipient with a ``sent`` row is never sent that event's message again; a ``failed`` row
(with the error's code and message) is tried again on the next run and becomes ``sent`` once
the message goes out. Rows are written right after each send, so a job that dies halfway
leaves the recipients it served recorded. A row is written by one upsert on its unique
(outbox event, recipient), not read and then written.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hub.clock import utcnow
from hub.connectors import BookingNotice
from hub.db import Database
from hub.db.tables import EmailSend

_SENDS = cast(Table, EmailSend.__table__)


def already_sent(session: Session, outbox_id: str) -> set[str]:
    """The recipients the event's message already reached."""
    found = session.scalars(
        select(EmailSend.recipient).where(EmailSend.outbox_id == outbox_id, EmailSend.status == "sent")
    )
    return set(found)


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
    insert = postgresql_insert if db.dialect == "postgresql" else sqlite_insert
    outcome = {
        "status": "failed" if error else "sent",
        "message_id": message_id,
        "error": error,
        "sent_at": None if error else now,
    }
    statement = (
        insert(_SENDS)
        .values(
            organization_id=organization_id,
            outbox_id=outbox_id,
            booking_id=notice.booking_id,
            kind=notice.kind,
            recipient=recipient,
            created_at=now,
            **outcome,
        )
        .on_conflict_do_update(index_elements=["outbox_id", "recipient"], set_=outcome)
    )
    with db.write() as session:
        session.execute(statement)
