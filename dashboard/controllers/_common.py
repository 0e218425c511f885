"""What the dashboard's controllers share: form fields, parameter checks, the Redis client."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import redis
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.params import Body

from hub.auth import audit
from hub.auth.principal import Principal
from hub.db import Database
from hub.times import MAX_YEAR, MIN_YEAR

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def field(form: dict[str, Any], name: str) -> str:
    """One form field as text ('' when absent; the first value when sent twice)."""
    value = form.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value).strip()


def fields(form: dict[str, Any], name: str) -> list[str]:
    """Every value of a repeated form field (checkboxes)."""
    value = form.get(name, [])
    values = value if isinstance(value, list) else [value]
    return [str(v).strip() for v in values if str(v).strip()]


def choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    """``value`` when it is one of ``allowed``, else ``None`` (an unknown filter shows everything)."""
    return value if value in allowed else None


def day_start(value: str | None) -> datetime | None:
    """``YYYY-MM-DD`` as midnight UTC; ``None`` for anything else, including days outside the
    years Hub supports (``hub.times``), whose next day may not even exist (9999-12-31)."""
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return day if MIN_YEAR <= day.year <= MAX_YEAR else None


def redis_client(request: Request[Any, Any, Any]) -> redis.Redis:
    client: redis.Redis = request.app.state.redis
    return client


def safe_next(value: str | None) -> str:
    """Where to go after signing in: only a dashboard path of this site."""
    if value and value.startswith("/dashboard") and "//" not in value and "\\" not in value:
        return value
    return "/dashboard"


def record(
    db: Database,
    principal: Principal,
    action: str,
    target_type: str,
    target_id: str,
    data: dict[str, Any] | None = None,
) -> None:
    """Write an audit event for a dashboard action (ids longer than the column keep their full form in data)."""
    with db.write() as session:
        audit.record(
            session,
            organization_id=principal.organization_id,
            action=action,
            actor_key_id=principal.key_id,
            target_type=target_type,
            target_id=target_id[:40],
            data={**(data or {}), **({"id": target_id} if len(target_id) > 40 else {})},
        )
