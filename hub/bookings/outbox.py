"""The transactional outbox: a booking change and the events it causes commit together."""

from __future__ import annotations

from typing import Any

import msgspec
import structlog
from sqlalchemy.orm import Session

from hub.clock import utcnow
from hub.db.tables import OutboxMessage
from hub.ids import new_id


def emit(
    session: Session,
    *,
    organization_id: str,
    event_type: str,
    aggregate_type: str,
    aggregate_id: str,
    payload: Any,
) -> OutboxMessage:
    """Add an outbox row in the caller's transaction; the database's commit hook hands its id
    to the relay once the transaction commits (``hub.jobs.relay``)."""
    context = {k: v for k, v in structlog.contextvars.get_contextvars().items() if k == "request_id"}
    message = OutboxMessage(
        id=new_id("outbox"),
        organization_id=organization_id,
        event_type=event_type,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        payload=msgspec.to_builtins(payload),
        context=context,
        created_at=utcnow(),
        dispatched_at=None,
    )
    session.add(message)
    session.info.setdefault("outbox", []).append((message.id, event_type))
    return message
