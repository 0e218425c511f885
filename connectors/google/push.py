"""Google push channels (``events.watch``, PROTOCOLS.md A) and the parsing of their notifications.

Google cannot extend a channel: ``renew`` opens a new channel with a new id (generated here and
returned in the ``ChannelInfo``), then stops the old one. Both may deliver for a moment; core
de-duplicates per channel and ignores channels it no longer knows.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import structlog

from connectors.google.client import GoogleClient, path
from connectors.google.schemas import Channel, StopRequest, WatchRequest
from hub import clock
from hub.connectors import ChannelInfo, CredentialStore, Notification, ProviderCalendar, WebhookAnswer
from hub.errors import PermanentError, PipelineError, SkippableError

MAX_CHANNEL_ID = 64  # characters (G-PUSH)
MAX_TOKEN = 256
# Google always answers with an expiration; should one ever be missing, assume a short life so
# the channel is renewed early rather than silently lapsing.
FALLBACK_LIFETIME = timedelta(hours=12)
KINDS = {"sync": "sync", "exists": "change", "not_exists": "change"}

log = structlog.get_logger("connectors.google")


def new_channel_id() -> str:
    return str(uuid.uuid4())  # Google recommends a UUID; 36 characters


def expires_at(expiration: int | str | None) -> datetime:
    """A watch response's ``expiration`` (Unix ms, as a number or an int64 string) as UTC."""
    if expiration is None or str(expiration).strip() == "":
        return clock.utcnow() + FALLBACK_LIFETIME
    return datetime.fromtimestamp(int(expiration) / 1000, UTC)


class GooglePush:
    def __init__(self, client: GoogleClient, *, ttl_seconds: int | None = None) -> None:
        self.client = client
        self._ttl = ttl_seconds  # ask for a shorter life than Google's default; None: Google decides

    def subscribe(
        self, credentials: CredentialStore, calendar: ProviderCalendar, *, channel_id: str, secret: str, address: str
    ) -> ChannelInfo:
        if len(channel_id) > MAX_CHANNEL_ID or len(secret) > MAX_TOKEN:
            raise ValueError("a Google channel id is at most 64 characters and its token at most 256")
        if not address.startswith("https://"):
            raise PermanentError(
                f"Google only pushes to HTTPS addresses with a valid certificate, not {address}",
                code="push_address_not_https",
            )
        request = WatchRequest(
            id=channel_id,
            type="web_hook",
            address=address,
            token=secret or None,
            params={"ttl": str(self._ttl)} if self._ttl else None,
        )
        channel = self.client.call(
            credentials,
            "POST",
            path("calendars", calendar.provider_calendar_id, "events", "watch"),
            Channel,
            body=request,
        )
        return ChannelInfo(
            channel_id=channel.id, resource_id=channel.resource_id, expires_at=expires_at(channel.expiration)
        )

    def renew(
        self,
        credentials: CredentialStore,
        channel: ChannelInfo,
        calendar: ProviderCalendar,
        *,
        secret: str,
        address: str,
    ) -> ChannelInfo:
        """A new channel (new id) for the same calendar, then the old one stopped."""
        fresh = self.subscribe(credentials, calendar, channel_id=new_channel_id(), secret=secret, address=address)
        try:
            self.stop(credentials, channel)
        except PipelineError as exc:
            # The new channel exists and must reach core; the old one lapses at its expiry.
            log.warning("google.channel_stop_failed", channel_id=channel.channel_id, error=exc.code)
        return fresh

    def stop(self, credentials: CredentialStore, channel: ChannelInfo) -> None:
        if not channel.resource_id:
            log.warning("google.channel_without_resource_id", channel_id=channel.channel_id)
            return  # cannot be stopped without it; it lapses at its expiry
        body = StopRequest(id=channel.channel_id, resource_id=channel.resource_id)
        try:
            self.client.call(credentials, "POST", "channels/stop", body=body)
        except SkippableError:
            return  # 404: unknown or already stopped

    def parse(
        self, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> WebhookAnswer | list[Notification]:
        """Pure: the notification in Google's ``X-Goog-*`` headers. The body is empty by design
        and is never parsed."""
        lower = {name.lower(): value for name, value in headers.items()}
        channel_id = lower.get("x-goog-channel-id", "").strip()
        state = lower.get("x-goog-resource-state", "").strip()
        number = lower.get("x-goog-message-number", "").strip()
        missing = [
            name
            for name, value in (
                ("X-Goog-Channel-ID", channel_id),
                ("X-Goog-Resource-State", state),
                ("X-Goog-Message-Number", number),
            )
            if not value
        ]
        if missing:
            return WebhookAnswer(400, f"not a Google Calendar push notification: missing {', '.join(missing)}")
        if not number.isdigit():
            return WebhookAnswer(400, "X-Goog-Message-Number must be an integer")
        detail = {
            "resource_id": lower.get("x-goog-resource-id"),
            "resource_state": state,
            "resource_uri": lower.get("x-goog-resource-uri"),
            "message_number": int(number),
            "channel_expiration": lower.get("x-goog-channel-expiration"),
        }
        return [
            Notification(
                channel_id=channel_id,
                secret=lower.get("x-goog-channel-token", ""),
                dedup_key=f"google:{channel_id}:{number}",
                kind=KINDS.get(state, "change"),
                detail=detail,
            )
        ]
