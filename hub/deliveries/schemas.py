"""Wire shapes of webhook endpoints, deliveries and their attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final, Literal

import msgspec

from hub.text import line, text

EVENT_TYPES: Final = (
    "booking.created",
    "booking.cancelled",
    "booking.rescheduled",
    "booking.updated",
    "booking.attendee_responded",
    "booking.external_change",
    "connection.reauth_required",
    "connection.synced",
)
EventType = Literal[
    "booking.created",
    "booking.cancelled",
    "booking.rescheduled",
    "booking.updated",
    "booking.attendee_responded",
    "booking.external_change",
    "connection.reauth_required",
    "connection.synced",
]

Url = Annotated[
    str,
    line(min_length=1, max_length=2048, description="http:// or https:// URL that receives the events"),
]
Events = Annotated[list[EventType], msgspec.Meta(min_length=1, description="Event types to send; at least one.")]
Description = Annotated[str, text(max_length=500)]


class WebhookEndpointCreate(msgspec.Struct):
    url: Url
    events: Events
    description: Description | None = None


class WebhookEndpointOut(msgspec.Struct):
    id: str
    url: str
    description: str | None
    events: list[str]
    status: str  # "enabled" or "disabled"
    disabled_reason: str | None
    disabled_at: datetime | None
    failing_since: datetime | None
    created_at: datetime
    deleted_at: datetime | None
    object: str = "webhook_endpoint"


class WebhookEndpointCreated(msgspec.Struct):
    """The answer to a create: the endpoint plus its signing ``secret``, shown only here."""

    id: str
    url: str
    description: str | None
    events: list[str]
    status: str
    disabled_reason: str | None
    disabled_at: datetime | None
    failing_since: datetime | None
    created_at: datetime
    deleted_at: datetime | None
    secret: str
    object: str = "webhook_endpoint"


class WebhookAttemptOut(msgspec.Struct):
    attempt_number: int
    attempted_at: datetime
    status_code: int | None
    latency_ms: int | None
    response_snippet: str | None
    error: str | None
    next_attempt_at: datetime | None
    object: str = "webhook_attempt"


class WebhookDeliveryOut(msgspec.Struct):
    id: str
    endpoint_id: str
    event_type: str
    status: str  # "pending", "succeeded" or "failed"
    attempt_count: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempts: list[WebhookAttemptOut]
    object: str = "webhook_delivery"
