"""The transactional outbox: a booking change and the events it causes commit together."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import msgspec
import structlog
from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import Session

from hub.clock import utcnow
from hub.db.tables import OutboxMessage
from hub.ids import new_id

_OUTBOX = cast(Table, OutboxMessage.__table__)
# Built once: a Core insert executed with a row of values, no ORM object to track and flush.
_INSERT = insert(_OUTBOX)


class Event(msgspec.Struct, frozen=True):
    """An outbox row as its consumers read it (``read``: a Core select, no ORM object)."""

    id: str
    organization_id: str
    event_type: str
    aggregate_type: str
    aggregate_id: str
    payload: dict[str, Any]
    context: dict[str, Any]
    created_at: datetime

    @property
    def meta(self) -> dict[str, Any]:
        """What the consumer jobs carry: the request id of whoever caused the event."""
        return {k: v for k, v in (self.context or {}).items() if k == "request_id"}


_READ = select(*(_OUTBOX.c[name] for name in Event.__struct_fields__)).where(
    _OUTBOX.c.id.in_(bindparam("ids", expanding=True))
)


def read(session: Session, ids: list[str]) -> dict[str, Event]:
    """The outbox rows of ``ids`` that exist, by id."""
    return {row.id: Event(*row) for row in session.execute(_READ, {"ids": ids})}


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
