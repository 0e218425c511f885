"""Audit events: who did what to which object. Written in the transaction of the change."""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.orm import Session

from hub.clock import utcnow
from hub.db.tables import AuditEvent
from hub.ids import new_id


def record(
    session: Session,
    *,
    organization_id: str,
    action: str,
    actor_key_id: str | None,
    target_type: str,
    target_id: str,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        id=new_id("audit_event"),
        organization_id=organization_id,
        action=action,
        actor_key_id=actor_key_id,
        target_type=target_type,
        target_id=target_id,
        data=data or {},
        request_id=structlog.contextvars.get_contextvars().get("request_id"),
        created_at=utcnow(),
    )
    session.add(event)
    return event
