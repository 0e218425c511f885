"""The transactional outbox: a booking change and the events it causes commit together."""

from __future__ import annotations

from typing import Any, cast

import msgspec
import structlog
from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from hub.clock import utcnow
from hub.db.tables import OutboxMessage
from hub.ids import new_id

# Built once: a Core insert executed with a row of values, no ORM object to track and flush.
_INSERT = insert(cast(Table, OutboxMessage.__table__))


def emit(
    session: Session,
    *,
    organization_id: str,
    event_type: str,
    aggregate_type: str,
    aggregate_id: str,
    payload: Any,
) -> str:
    """Add an outbox row in the caller's transaction and return its id; the database's commit
    hook hands the id to the relay once the transaction commits (``hub.jobs.relay``)."""
    context = {k: v for k, v in structlog.contextvars.get_contextvars().items() if k == "request_id"}
    outbox_id = new_id("outbox")
    session.execute(
        _INSERT,
        {
            "id": outbox_id,
            "organization_id": organization_id,
            "event_type": event_type,
            "aggregate_type": aggregate_type,
            "aggregate_id": aggregate_id,
            "payload": msgspec.to_builtins(payload),
            "context": context,
            "created_at": utcnow(),
            "dispatched_at": None,
        },
    )
    session.info.setdefault("outbox", []).append((outbox_id, event_type))
    return outbox_id
