"""``PushChannels`` over Graph subscriptions, and parsing what Graph POSTs to the webhook.

Subscriptions (PROTOCOLS D):

* ``resource`` is ``/me/events``, the documented Outlook event resource: one subscription covers
  every calendar of the mailbox (per-calendar event paths are not documented for
  subscriptions). A notification therefore means "something in this mailbox changed"; core
  should sync the connection's selected calendars.
* ``notificationUrl`` and ``lifecycleNotificationUrl`` are both ``address`` (the lifecycle URL can
  only be set at creation); ``clientState`` is the channel secret (at most 128 characters).
* Lifetime: ``expiry_minutes`` (default 4,200: under the 4,230-minute limit of the docs snapshot,
  so also under the current 10,080). Renew at about half-life.
* Graph assigns the subscription id: ``ChannelInfo.channel_id`` is that id, not the
  ``channel_id`` core proposed; store what is returned.
* ``renew`` PATCHes ``expirationDateTime`` (which also reauthorizes); if Graph no longer knows
  the subscription (404, e.g. after ``subscriptionRemoved``) a new one is created and returned.

Parsing (pure): a ``validationToken`` query parameter is answered before anything else, with the
decoded token as ``text/plain``; a token longer than ``MAX_VALIDATION_TOKEN`` characters is
refused with 400 (Graph's tokens are short; nothing else gets an echo of any length). Otherwise
the body is a ``changeNotificationCollection``; each entry becomes a ``Notification`` with
``secret = clientState`` (core compares it in constant time, and caps how many one request may
carry: ``hub.webhooks.service.MAX_NOTIFICATIONS``).

Dedup keys collapse Graph's redeliveries (it retries an unanswered POST for up to 4 hours with
the same content) without swallowing later, real changes:

* change: ``microsoft:{subscriptionId}:{changeType}:{resourceData.id}:{@odata.etag}``. Each edit
  of an event gives it a new etag, so a later change has a new key; a deletion has no etag and
  happens once. Without an etag on a created/updated notice the notification ``id``, else the
  subscription's expiry, stands in, so such keys collapse at most for one subscription period.
* lifecycle: ``microsoft:{subscriptionId}:lifecycle:{event}:{subscriptionExpirationDateTime}``.
  Renewing changes the expiry, so the next lifecycle event after core's reaction gets a new key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec

from connectors.microsoft.client import MicrosoftClient, segment
from connectors.microsoft.schemas import (
    NotificationCollection,
    NotificationItem,
    Subscription,
    SubscriptionCreate,
    SubscriptionRenew,
)
from hub.clock import utcnow
from hub.connectors import ChannelInfo, CredentialStore, Notification, ProviderCalendar, WebhookAnswer
from hub.errors import PermanentError, SkippableError

RESOURCE: Final = "/me/events"
CHANGE_TYPES: Final = "created,updated,deleted"
DEFAULT_EXPIRY_MINUTES: Final = 4_200
MAX_CLIENT_STATE: Final = 128
MAX_DEDUP_KEY: Final = 500
MAX_VALIDATION_TOKEN: Final = 1_024  # characters, after URL decoding
LIFECYCLE_EVENTS: Final = frozenset({"reauthorizationRequired", "subscriptionRemoved", "missed"})


def _graph_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


class MicrosoftPush:
    def __init__(
        self,
        client: MicrosoftClient,
        *,
        expiry_minutes: int = DEFAULT_EXPIRY_MINUTES,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.client = client
        self.expiry = timedelta(minutes=expiry_minutes)
        self._clock = clock

    def _channel(self, subscription: Subscription) -> ChannelInfo:
        return ChannelInfo(
            channel_id=subscription.id,
            resource_id=subscription.resource or RESOURCE,
            expires_at=_parse_time(subscription.expiration_date_time),
        )

    def subscribe(
        self, credentials: CredentialStore, calendar: ProviderCalendar, *, channel_id: str, secret: str, address: str
    ) -> ChannelInfo:
        if not secret or len(secret) > MAX_CLIENT_STATE:
            raise PermanentError("clientState must be 1 to 128 characters", code="client_state_invalid")
        body = SubscriptionCreate(
            change_type=CHANGE_TYPES,
            notification_url=address,
            lifecycle_notification_url=address,
            resource=RESOURCE,
            expiration_date_time=_graph_time(self._clock() + self.expiry),
            client_state=secret,
            latest_supported_tls_version="v1_2",
        )
        return self._channel(self.client.call(credentials, "POST", "/subscriptions", Subscription, body=body))

    def renew(
        self,
        credentials: CredentialStore,
        channel: ChannelInfo,
        calendar: ProviderCalendar,
        *,
        secret: str,
        address: str,
    ) -> ChannelInfo:
        body = SubscriptionRenew(expiration_date_time=_graph_time(self._clock() + self.expiry))
        path = f"/subscriptions/{segment(channel.channel_id)}"
        try:
            renewed = self.client.call(credentials, "PATCH", path, Subscription, body=body)
        except SkippableError:  # Graph removed it: a new subscription replaces it
            return self.subscribe(credentials, calendar, channel_id=channel.channel_id, secret=secret, address=address)
        return self._channel(renewed)

    def stop(self, credentials: CredentialStore, channel: ChannelInfo) -> None:
        try:
            self.client.call(credentials, "DELETE", f"/subscriptions/{segment(channel.channel_id)}")
        except SkippableError:  # already gone
            return

    def parse(
        self, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> WebhookAnswer | list[Notification]:
        return parse_notifications(query, body)


def parse_notifications(query: Mapping[str, str], body: bytes) -> WebhookAnswer | list[Notification]:
    """Pure: the validation answer, a 400 for an unreadable body, or the notifications."""
    token = query.get("validationToken")
    if token is not None:  # the handshake comes first, before any JSON parsing (PROTOCOLS D)
        if len(token) > MAX_VALIDATION_TOKEN:
            return WebhookAnswer(
                status=400,
                body=f"validationToken is longer than {MAX_VALIDATION_TOKEN} characters",
                media_type="text/plain",
            )
        return WebhookAnswer(status=200, body=token, media_type="text/plain")
    try:
        collection = msgspec.json.decode(body, type=NotificationCollection)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return WebhookAnswer(status=400, body="expected a JSON changeNotificationCollection", media_type="text/plain")
    notifications = [_notification(item) for item in collection.value if item.subscription_id]
    return [n for n in notifications if n is not None]


def _notification(item: NotificationItem) -> Notification | None:
    subscription = str(item.subscription_id)
    expires = item.subscription_expiration_date_time or ""
    detail: dict[str, Any] = {"tenant_id": item.tenant_id, "subscription_expires_at": expires or None}
    if item.lifecycle_event is not None:
        if item.lifecycle_event not in LIFECYCLE_EVENTS:
            return None
        return Notification(
            channel_id=subscription,
            secret=item.client_state or "",
            dedup_key=f"microsoft:{subscription}:lifecycle:{item.lifecycle_event}:{expires}",
            kind=item.lifecycle_event,
            detail=detail,
        )
    change = item.change_type or "unknown"
    data = item.resource_data
    event_id = (data.id if data else None) or (item.resource or "").rsplit("/", 1)[-1]
    version = data.etag if data and data.etag else ""
    if not version and change != "deleted":
        version = item.id or f"exp={expires}"
    detail.update({"change_type": change, "resource": item.resource, "event_id": event_id})
    key = f"microsoft:{subscription}:{change}:{event_id}:{version}"
    if len(key) > MAX_DEDUP_KEY:  # the inbox column holds 512; long ids are hashed, still deterministic
        key = f"microsoft:{subscription}:{change}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    return Notification(
        channel_id=subscription,
        secret=item.client_state or "",
        dedup_key=key,
        kind="change",
        detail=detail,
    )
