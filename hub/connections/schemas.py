"""Wire shapes of connections (linked calendar accounts)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from hub.statuses import ConnectionStatus, PushStateName
from hub.text import line


class AuthorizeRequest(msgspec.Struct):
    redirect_uri: Annotated[str, line(max_length=2048, examples=["https://app.example.com/after-link"])]


class PasswordLinkRequest(msgspec.Struct):
    """Link an account with a server and an app-specific password (CalDAV): ``server_url``, or a
    ``preset`` naming the provider's server (``icloud``, ``fastmail``; ``nextcloud`` with your
    ``server_url``)."""

    username: Annotated[str, line(min_length=1, max_length=320, examples=["ada@icloud.com"])]
    password: Annotated[str, line(min_length=1, max_length=1024, examples=["abcd-efgh-ijkl-mnop"])]
    server_url: Annotated[str, line(max_length=2048, examples=["https://caldav.example.com/"])] | None = None
    preset: Annotated[str, line(max_length=32, examples=["icloud"])] | None = None


class AuthorizeResponse(msgspec.Struct):
    authorization_url: str
    expires_at: datetime
    object: str = "authorization"


class LastError(msgspec.Struct):
    code: str  # Hub's code, one per condition whatever the provider (docs/errors.md)
    message: str
    at: datetime
    provider_code: str | None = None  # the provider's own code for it, for support; may be null


class CalendarOut(msgspec.Struct):
    id: str
    provider_calendar_id: str
    name: str
    timezone: str | None
    primary: bool
    busy_source: bool
    booking_target: bool
    object: str = "calendar"


class PushState(msgspec.Struct):
    state: PushStateName
    expires_at: datetime | None


class ConnectionOut(msgspec.Struct):
    id: str
    user_id: str
    provider: str
    account_email: str | None
    status: ConnectionStatus
    last_synced_at: datetime | None
    last_success_at: datetime | None
    last_error: LastError | None
    consecutive_failures: int
    calendars: list[CalendarOut]
    push: PushState
    created_at: datetime
    updated_at: datetime
    revoked_at: datetime | None
    object: str = "connection"


class CalendarUpdate(msgspec.Struct):
    busy_source: bool | msgspec.UnsetType = msgspec.UNSET
    booking_target: bool | msgspec.UnsetType = msgspec.UNSET


class SyncRequested(msgspec.Struct):
    connection_id: str
    calendars: list[str]
    object: str = "sync_request"
