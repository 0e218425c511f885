"""Rows for dashboard tests, written straight into the database (what the jobs would have written)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hub.db import Database
from hub.db.tables import (
    Calendar,
    Connection,
    InboundNotification,
    PushChannel,
    SyncRun,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from hub.ids import new_id


def now() -> datetime:
    return datetime.now(UTC)


def connection(
    db: Database,
    organization_id: str,
    user_id: str,
    *,
    status: str = "active",
    provider: str = "google",
    email: str = "ada@example.com",
    failures: int = 0,
    error_code: str | None = None,
    error_message: str | None = None,
    with_calendar: bool = True,
    account_id: str | None = None,
) -> str:
    """A linked account (with one busy-source primary calendar); returns the connection id."""
    at = now()
    connection_id = new_id("connection")
    with db.write() as session:
        session.add(
            Connection(
                id=connection_id,
                organization_id=organization_id,
                user_id=user_id,
                provider=provider,
                account_id=account_id or f"acct-{connection_id}",
                account_email=email,
                status=status,
                credentials_ciphertext=None,
                scopes=[],
                last_synced_at=at - timedelta(minutes=5),
                last_success_at=at - timedelta(hours=3),
                last_error_code=error_code,
                last_error_message=error_message,
                last_error_at=at - timedelta(minutes=5) if error_code else None,
                consecutive_failures=failures,
                created_at=at - timedelta(days=3),
                updated_at=at,
                revoked_at=None,
            )
        )
        session.flush()
        if with_calendar:
            calendar_id = new_id("calendar")
            session.add(
                Calendar(
                    id=calendar_id,
                    connection_id=connection_id,
                    provider_calendar_id=email,
                    name=f"{email} (primary)",
                    timezone="Europe/Berlin",
                    primary=True,
                    busy_source=True,
                    booking_target=True,
                    sync_cursor=None,
                    last_full_sync_at=None,
                    created_at=at,
                    removed_at=None,
                )
            )
            session.flush()
            session.add(
                PushChannel(
                    id=new_id("channel"),
                    connection_id=connection_id,
                    calendar_id=calendar_id,
                    provider=provider,
                    channel_id=new_id("channel"),
                    resource_id=None,
                    secret_hash="0" * 64,
                    status="active",
                    expires_at=at + timedelta(days=6),
                    created_at=at,
                    stopped_at=None,
                )
            )
    return connection_id


def calendar_of(db: Database, connection_id: str) -> str:
    with db.read() as session:
        found = session.query(Calendar.id).filter(Calendar.connection_id == connection_id).first()
    assert found is not None
    return str(found[0])


def sync_run(
    db: Database,
    organization_id: str,
    connection_id: str,
    *,
    started_at: datetime,
    outcome: str = "succeeded",
    provider: str = "google",
    error_code: str | None = None,
    error_detail: str | None = None,
    booking_changes: list[dict[str, str]] | None = None,
) -> str:
    run_id = new_id("sync_run")
    with db.write() as session:
        session.add(
            SyncRun(
                id=run_id,
                organization_id=organization_id,
                connection_id=connection_id,
                calendar_id=None,
                provider=provider,
                trigger="webhook",
                full=False,
                outcome=outcome,
                events_upserted=3,
                events_deleted=1,
                error_code=error_code,
                error_detail=error_detail,
                job_id=None,
                started_at=started_at,
                finished_at=started_at + timedelta(milliseconds=850),
                duration_ms=850,
                booking_changes=booking_changes,
            )
        )
    return run_id


def notification(
    db: Database, connection_id: str, *, status: str = "processed", duplicates: int = 0, provider: str = "google"
) -> str:
    notification_id = new_id("notification")
    with db.write() as session:
        session.add(
            InboundNotification(
                id=notification_id,
                provider=provider,
                dedup_key=f"test:{notification_id}",
                connection_id=connection_id,
                calendar_id=None,
                kind="change",
                status=status,
                duplicates=duplicates,
                detail={},
                received_at=now(),
                processed_at=now() if status == "processed" else None,
            )
        )
    return notification_id


def delivery(
    db: Database,
    organization_id: str,
    endpoint_id: str,
    *,
    status: str = "failed",
    attempts: list[tuple[int | None, int]] | None = None,
) -> str:
    """A delivery with its attempts, each ``(status code, latency ms)``."""
    delivery_id = new_id("webhook_delivery")
    tried = attempts if attempts is not None else [(500, 120), (503, 95)]
    with db.write() as session:
        session.add(
            WebhookDelivery(
                id=delivery_id,
                organization_id=organization_id,
                endpoint_id=endpoint_id,
                outbox_id=None,
                event_type="booking.created",
                body=b"{}",
                status=status,
                attempt_count=len(tried),
                next_attempt_at=None,
                last_status_code=tried[-1][0] if tried else None,
                last_error=f"HTTP {tried[-1][0]}" if tried and status != "succeeded" else None,
                context={},
                created_at=now(),
                delivered_at=None,
            )
        )
        session.flush()
        for number, (code, latency) in enumerate(tried, start=1):
            session.add(
                WebhookAttempt(
                    delivery_id=delivery_id,
                    attempt_number=number,
                    attempted_at=now(),
                    status_code=code,
                    latency_ms=latency,
                    response_snippet="busy",
                    error=None if code else "connection refused",
                    next_attempt_at=None,
                )
            )
    return delivery_id


def set_endpoint(db: Database, endpoint_id: str, **values: Any) -> None:
    with db.write() as session:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        assert endpoint is not None
        for name, value in values.items():
            setattr(endpoint, name, value)
