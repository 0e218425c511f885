"""Hub's tables. One set for SQLite and PostgreSQL; Alembic migrations create them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from hub.db.types import JSONType, UTCDateTime
from hub.statuses import (
    BookingEventStatus,
    BookingStatus,
    ConnectionStatus,
    DeliveryStatus,
    EndpointStatus,
    HoldStatus,
    NotificationStatus,
    PushChannelStatus,
    SyncOutcome,
    SyncTrigger,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType, list[Any]: JSONType}


class Organization(Base):
    __tablename__ = "organizations"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    timezone: Mapped[str] = mapped_column(String(64))
    working_hours: Mapped[list[Any]]
    buffer_minutes: Mapped[int] = mapped_column(Integer, default=0)
    minimum_notice_minutes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Raised by the database (triggers, migration 0013) at every write that may change the user's
    # busy time; Hub never writes it. Remembered availability answers are kept under it.
    busy_version: Mapped[int] = mapped_column(Integer, server_default="0")


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    scopes: Mapped[list[Any]]
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(40))
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class DashboardSession(Base):
    """A signed-in dashboard session. ``id`` is the SHA-256 of the session's random token (the
    cookie holds the token, the database only its hash); deleting the row ends the session."""

    __tablename__ = "dashboard_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), index=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_org_id", "organization_id", "id"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    action: Mapped[str] = mapped_column(String(64))
    actor_key_id: Mapped[str | None] = mapped_column(String(40))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]]
    request_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime]


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        Index("ix_bookings_org_start", "organization_id", "start_at", "id"),
        Index("ix_bookings_host_start", "host_id", "start_at"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    host_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    status: Mapped[BookingStatus] = mapped_column(String(20))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    timezone: Mapped[str] = mapped_column(String(64))
    requested: Mapped[dict[str, Any]]
    client_timestamp: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(500))
    attendees: Mapped[list[Any]]
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    cancellation_reason: Mapped[str | None] = mapped_column(Text)
    reschedule_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    rescheduled_at: Mapped[datetime | None]
    previous_start_at: Mapped[datetime | None]  # the times before the last reschedule
    previous_end_at: Mapped[datetime | None]
    # {"provider", "status", "join_url", "error", "calendar_id", "checks"} or None (no conference)
    conferencing: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    # {"kind": "deleted" | "moved", "detected_at", "start", "end"}: the host changed Hub's event
    external_change: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    # How a round-robin booking's host was chosen (``{"strategy", "pool", "reason"}``); None otherwise.
    assignment: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    # Loaded with the booking (one query for a whole page of bookings).
    hosts: Mapped[list[BookingHost]] = relationship(order_by="BookingHost.position", lazy="selectin", viewonly=True)

    series_id: Mapped[str | None] = mapped_column(ForeignKey("booking_series.id"), index=True)
    occurrence_index: Mapped[int | None] = mapped_column(Integer)  # its place in the series' rule, from 0


class BookingHost(Base):
    """One host's part in a booking: every booking has one row per host (``position`` 0 is the
    booking's ``host_id``). The booking's times and status are mirrored here, so a host's busy
    time is one indexed query, and on PostgreSQL the no-overlap exclusion constraint holds per
    host, for collective bookings too."""

    __tablename__ = "booking_hosts"
    __table_args__ = (Index("ix_booking_hosts_host_start", "host_id", "start_at"),)
    booking_id: Mapped[str] = mapped_column(ForeignKey("bookings.id"), primary_key=True)
    host_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[BookingStatus] = mapped_column(String(20))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]


class BookingSeries(Base):
    """A recurring booking: the rule its occurrences (bookings with ``series_id``) came from."""

    __tablename__ = "booking_series"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    host_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(20))  # "active" or "cancelled"
    timezone: Mapped[str] = mapped_column(String(64))
    recurrence: Mapped[dict[str, Any]]  # the rule as the API shows it
    starts: Mapped[list[Any]]  # every planned occurrence's start (RFC 3339 UTC), by occurrence index
    duration_seconds: Mapped[int] = mapped_column(Integer)
    skipped: Mapped[list[Any]]  # [{"start", "code"}] of the occurrences not booked
    cancellations: Mapped[list[Any]]  # when the series was cancelled (all or following), RFC 3339 UTC
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Hold(Base):
    """A temporary reservation of a host's time. It blocks the time while it is live: status
    ``active`` and ``expires_at`` in the future (decided by every query, not by a sweeper)."""

    __tablename__ = "holds"
    __table_args__ = (
        Index("ix_holds_host_start", "host_id", "start_at"),
        Index("ix_holds_expiry", "status", "expires_at"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    host_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    status: Mapped[HoldStatus] = mapped_column(String(20))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    timezone: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    booking_id: Mapped[str | None] = mapped_column(ForeignKey("bookings.id"))
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    hosts: Mapped[list[HoldHost]] = relationship(order_by="HoldHost.position", lazy="selectin", viewonly=True)


class HoldHost(Base):
    """One host whose time a hold blocks (``position`` 0 is the hold's ``host_id``)."""

    __tablename__ = "hold_hosts"
    __table_args__ = (Index("ix_hold_hosts_host", "host_id", "hold_id"),)
    hold_id: Mapped[str] = mapped_column(ForeignKey("holds.id"), primary_key=True)
    host_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("api_key_id", "key", name="uq_idempotency_keys_api_key_id_key"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    api_key_id: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # "in_flight" or "done"
    response_status: Mapped[int | None]
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    locked_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "dispatched_at", "created_at"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    event_type: Mapped[str] = mapped_column(String(64))
    aggregate_type: Mapped[str] = mapped_column(String(40))
    aggregate_id: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]]
    context: Mapped[dict[str, Any]]  # request id (and trace context) carried into the jobs
    created_at: Mapped[datetime]
    dispatched_at: Mapped[datetime | None]


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_org", "organization_id", "id"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(500))
    events: Mapped[list[Any]]
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)  # AES-GCM, see hub.crypto
    status: Mapped[EndpointStatus] = mapped_column(String(20))
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None]
    failing_since: Mapped[datetime | None]  # first failure of the current failing streak
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class WebhookDelivery(Base):
    """One event for one endpoint; its attempts are ``WebhookAttempt`` rows."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "outbox_id", name="uq_webhook_deliveries_endpoint_outbox"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"))
    outbox_id: Mapped[str | None] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)  # the exact bytes signed and sent
    status: Mapped[DeliveryStatus] = mapped_column(String(20))
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    context: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    trace_id: Mapped[str | None] = mapped_column(String(32))  # W3C trace id of the first attempt


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id", "attempt_number"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id"))
    attempt_number: Mapped[int]
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None]
    latency_ms: Mapped[int | None]
    response_snippet: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    trace_id: Mapped[str | None] = mapped_column(String(32))  # W3C trace id of this attempt


class EmailSend(Base):
    """One email for one recipient of one outbox event: the record that makes sending idempotent."""

    __tablename__ = "email_sends"
    __table_args__ = (UniqueConstraint("outbox_id", "recipient", name="uq_email_sends_outbox_recipient"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    outbox_id: Mapped[str] = mapped_column(String(40))
    booking_id: Mapped[str] = mapped_column(String(40), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # "confirmation" or "cancellation"
    recipient: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(20))  # "sent" or "failed"
    message_id: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class OAuthState(Base):
    """A pending link: single use, expiring, bound to organization, user and redirect URI."""

    __tablename__ = "oauth_states"
    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    provider: Mapped[str] = mapped_column(String(32))
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    flow_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)  # PKCE verifier etc., encrypted
    actor_key_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class Connection(Base):
    __tablename__ = "connections"
    __table_args__ = (
        UniqueConstraint("organization_id", "provider", "account_id", name="uq_connections_account"),
        Index("ix_connections_org_user", "organization_id", "user_id"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    provider: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[str] = mapped_column(String(255))
    account_email: Mapped[str | None] = mapped_column(String(320))
    status: Mapped[ConnectionStatus] = mapped_column(String(20))
    credentials_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    scopes: Mapped[list[Any]]
    last_synced_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error_code: Mapped[str | None] = mapped_column(String(64))  # Hub's code (docs/errors.md)
    last_error_provider_code: Mapped[str | None] = mapped_column(String(128))  # the provider's own
    last_error_message: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Calendar(Base):
    __tablename__ = "calendars"
    __table_args__ = (UniqueConstraint("connection_id", "provider_calendar_id", name="uq_calendars_provider_id"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), index=True)
    provider_calendar_id: Mapped[str] = mapped_column(String(1024))
    name: Mapped[str] = mapped_column(String(500))
    timezone: Mapped[str | None] = mapped_column(String(64))
    primary: Mapped[bool]
    busy_source: Mapped[bool]
    booking_target: Mapped[bool]
    sync_cursor: Mapped[str | None] = mapped_column(Text)  # Google syncToken / Graph deltaLink
    last_full_sync_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    removed_at: Mapped[datetime | None]
    # the conferences the calendar can make (Hub's names, the native one first), as last listed
    conferencing: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)


class ExternalEvent(Base):
    """A busy block pulled from a linked calendar."""

    __tablename__ = "external_events"
    __table_args__ = (
        UniqueConstraint("calendar_id", "provider_event_id", name="uq_external_events_calendar_event"),
        Index("ix_external_events_user_start", "user_id", "start_at"),
        Index("ix_external_events_calendar_item", "calendar_id", "item"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    calendar_id: Mapped[str] = mapped_column(ForeignKey("calendars.id"))
    user_id: Mapped[str] = mapped_column(String(40))
    provider_event_id: Mapped[str] = mapped_column(String(1024))
    # the provider object the block comes from when one object yields several (a CalDAV resource)
    item: Mapped[str | None] = mapped_column(String(1024))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PushChannel(Base):
    """A Google channel or a Graph subscription for one calendar."""

    __tablename__ = "push_channels"
    __table_args__ = (Index("ix_push_channels_expiry", "status", "expires_at"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), index=True)
    calendar_id: Mapped[str] = mapped_column(ForeignKey("calendars.id"))
    provider: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(255), unique=True)  # Google channel id / Graph subscription id
    resource_id: Mapped[str | None] = mapped_column(String(1024))
    secret_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the channel token / clientState
    status: Mapped[PushChannelStatus] = mapped_column(String(20))
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime]
    stopped_at: Mapped[datetime | None]


class InboundNotification(Base):
    """The webhook inbox: one row per accepted provider notification, unique by dedup key."""

    __tablename__ = "inbound_notifications"
    __table_args__ = (Index("ix_inbound_notifications_connection", "connection_id", "received_at"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    dedup_key: Mapped[str] = mapped_column(String(512), unique=True)
    connection_id: Mapped[str | None] = mapped_column(String(40))
    calendar_id: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(40))  # change, sync, reauthorizationRequired, subscriptionRemoved, missed
    status: Mapped[NotificationStatus] = mapped_column(String(20))
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]


class SyncRun(Base):
    """The sync log: one row per sync of one calendar."""

    __tablename__ = "sync_runs"
    __table_args__ = (
        Index("ix_sync_runs_connection", "connection_id", "started_at"),
        Index("ix_sync_runs_started", "started_at"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"))
    calendar_id: Mapped[str | None] = mapped_column(String(40))
    provider: Mapped[str] = mapped_column(String(32))
    trigger: Mapped[SyncTrigger] = mapped_column(String(20))
    full: Mapped[bool]
    outcome: Mapped[SyncOutcome] = mapped_column(String(20))
    events_upserted: Mapped[int] = mapped_column(Integer, default=0)
    events_deleted: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(64))  # Hub's code (docs/errors.md)
    error_provider_code: Mapped[str | None] = mapped_column(String(128))  # the provider's own
    error_detail: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    duration_ms: Mapped[int | None]
    trace_id: Mapped[str | None] = mapped_column(String(32))  # W3C trace id of the sync
    # what the sync found about Hub's own events: [{"booking_id", "kind"}] (kind: "deleted",
    # "moved", "attendee_responded", "conference_ready", "conference_failed")
    booking_changes: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)


class BookingEvent(Base):
    """A booking written into a linked calendar: the provider's event id, for cancel."""

    __tablename__ = "booking_events"
    __table_args__ = (UniqueConstraint("booking_id", "calendar_id", name="uq_booking_events_booking_calendar"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    booking_id: Mapped[str] = mapped_column(ForeignKey("bookings.id"))
    calendar_id: Mapped[str] = mapped_column(ForeignKey("calendars.id"))
    connection_id: Mapped[str] = mapped_column(String(40))
    provider_event_id: Mapped[str | None] = mapped_column(String(1024))
    status: Mapped[BookingEventStatus] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    sequence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # booking version written
    written_start_at: Mapped[datetime | None]  # the times Hub last wrote into the event
    written_end_at: Mapped[datetime | None]
