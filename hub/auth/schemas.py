"""Wire shapes of API keys and audit events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from hub.auth.scopes import ALL_SCOPES
from hub.text import line

Role = Literal["owner", "member", "support", "app"]
Scope = Literal[ALL_SCOPES]  # type: ignore[valid-type]


class ApiKeyCreate(msgspec.Struct):
    name: Annotated[str, line(min_length=1, max_length=200)]
    role: Role = "app"
    scopes: list[Scope] | None = None


class ApiKeyOut(msgspec.Struct):
    id: str
    name: str
    role: str
    scopes: list[str]
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    object: str = "api_key"


class ApiKeyCreated(msgspec.Struct):
    id: str
    name: str
    role: str
    scopes: list[str]
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    key: str  # shown once
    object: str = "api_key"


class AuditEventOut(msgspec.Struct):
    id: str
    action: str
    actor_key_id: str | None
    target_type: str
    target_id: str
    data: dict[str, Any]
    request_id: str | None
    created_at: datetime
    object: str = "audit_event"
