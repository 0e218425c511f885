"""Assertions and request builders shared by the integration tests (what an API client sees)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from hub.auth.keys import hash_key
from hub.clock import utcnow
from hub.db import Database
from hub.db.tables import ApiKey, Calendar, Connection, ExternalEvent, PushChannel
from hub.ids import new_id

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_FIELDS = {"type", "title", "status", "detail", "code", "request_id"}

# December 2030: Monday the 2nd ... Friday the 6th, Saturday the 7th, Sunday the 8th, Monday the 9th.
MONDAY = "2030-12-02"
TUESDAY = "2030-12-03"
SATURDAY = "2030-12-07"
BERLIN = "Europe/Berlin"


def assert_problem(response: httpx.Response, status: int, code: str, *, replayed: bool = False) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem with ``status`` and ``code``; returns the body.

    The body's ``request_id`` is the response's ``X-Request-ID`` unless the answer is an
    idempotent replay (then it is the id of the request that produced the stored answer).
    """
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0].strip() == PROBLEM_MEDIA_TYPE, response.headers
    body = response.json()
    assert isinstance(body, dict)
    missing = PROBLEM_FIELDS - body.keys()
    assert not missing, f"problem body lacks {missing}: {body}"
    assert body["status"] == status
    assert body["code"] == code, body
    assert isinstance(body["type"], str)
    assert body["type"]
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert isinstance(body["request_id"], str)
    assert body["request_id"]
    if not replayed:
        assert body["request_id"] == response.headers["x-request-id"]
    return body


def error_fields(body: dict[str, Any]) -> list[str]:
    """The ``field`` of every entry of a validation problem's ``errors``."""
    errors = body.get("errors")
    assert isinstance(errors, list), f"no errors[] in {body}"
    assert errors, f"empty errors[] in {body}"
    for error in errors:
        assert isinstance(error.get("field"), str), error
        assert isinstance(error.get("message"), str), error
        assert error["message"]
    return [error["field"] for error in errors]


def booking(host_id: str, start: str, end: str | None = None, **extra: Any) -> dict[str, Any]:
    """A booking request body; local times are read in Europe/Berlin unless ``timezone`` is given."""
    body: dict[str, Any] = {"host_id": host_id, "start": start, "timezone": BERLIN}
    if end is not None:
        body["end"] = end
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def key_id_of(db: Database, secret: str) -> str:
    """The id of the API key whose secret is ``secret``."""
    with db.read() as session:
        key_id = session.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_key(secret)))
    assert key_id is not None
    return key_id


def create_booking(client: httpx.Client, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    response = client.post("/v1/bookings", json=body, **kwargs)
    assert response.status_code == 201, response.text
    return dict(response.json())


def list_all(client: httpx.Client, path: str, *, limit: int = 100, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paginated list, following ``next_cursor``."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        query = {"limit": limit, **params}
        if cursor is not None:
            query["cursor"] = cursor
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["object"] == "list"
        items.extend(page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination never ended")


def link_calendar(
    db: Database,
    organization_id: str,
    user_id: str,
    *,
    provider: str = "google",
    status: str = "active",
    last_success: timedelta | None = timedelta(minutes=1),
    failures: int = 0,
    push_expires_in: timedelta | None = None,
    busy: list[tuple[str, str]] | None = None,
) -> str:
    """A connection row as the sync leaves it: one busy-source calendar, its last success that long
    ago, a failure streak, and a push channel expiring in ``push_expires_in`` (negative: expired)."""
    now = utcnow()
    with db.write() as session:
        connection = Connection(
            id=new_id("connection"),
            organization_id=organization_id,
            user_id=user_id,
            provider=provider,
            account_id=uuid.uuid4().hex,
            account_email=f"{uuid.uuid4().hex[:8]}@example.com",
            status=status,
            scopes=[],
            last_synced_at=now - timedelta(minutes=1),
            last_success_at=None if last_success is None else now - last_success,
            last_error_code="provider_unavailable" if failures else None,
            last_error_message="The provider answered 503." if failures else None,
            last_error_at=now - timedelta(minutes=1) if failures else None,
            consecutive_failures=failures,
            created_at=now - timedelta(days=3),
            updated_at=now,
            revoked_at=now if status == "revoked" else None,
        )
        session.add(connection)
        session.flush()
        calendar = Calendar(
            id=new_id("calendar"),
            connection_id=connection.id,
            provider_calendar_id=uuid.uuid4().hex,
            name="Work",
            primary=True,
            busy_source=True,
            booking_target=True,
            created_at=now,
        )
        session.add(calendar)
        session.flush()
        if push_expires_in is not None:
            session.add(
                PushChannel(
                    id=new_id("channel"),
                    connection_id=connection.id,
                    calendar_id=calendar.id,
                    provider=provider,
                    channel_id=f"hub-{uuid.uuid4().hex}",
                    secret_hash="0" * 64,
                    status="active",
                    expires_at=now + push_expires_in,
                    created_at=now,
                )
            )
        for index, (start, end) in enumerate(busy or []):
            session.add(
                ExternalEvent(
                    calendar_id=calendar.id,
                    user_id=user_id,
                    provider_event_id=f"evt-{index}",
                    start_at=datetime.fromisoformat(start),
                    end_at=datetime.fromisoformat(end),
                    updated_at=now,
                )
            )
        return connection.id
