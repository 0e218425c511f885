"""The Google Calendar connector's spec and factory.

``build(settings)`` makes no network call and wires one httpx client (its connection pool serves
every call of the connector: API, token refresh, code exchange, revocation), the token source,
the API client and the parts. Build once per process and reuse the ``Connector``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from connectors.google.auth import GoogleOAuth, GoogleTokens
from connectors.google.calendar import GoogleCalendars
from connectors.google.client import TABLE, GoogleClient
from connectors.google.push import GooglePush
from connectors.google.sync import GoogleChangeFeed
from hub import http
from hub.connectors import Connector, calendar_spec
from hub.settings import Settings

SPEC = calendar_spec("google", "Google Calendar", conferencing=frozenset({"google_meet"}))


def build(
    settings: Settings,
    *,
    sleep: Callable[[float], None] = time.sleep,
    transport: httpx.BaseTransport | None = None,
) -> Connector:
    """The Google connector (a ``hub.connectors.ConnectorFactory``)."""
    http_client = http.client(transport=transport)
    tokens = GoogleTokens(settings, http_client)
    client = GoogleClient(tokens, base_url=settings.google_api_url, http_client=http_client, table=TABLE, sleep=sleep)
    return Connector(
        oauth=GoogleOAuth(settings, tokens, client, sleep=sleep),
        calendars=GoogleCalendars(client),
        feed=GoogleChangeFeed(client),
        push=GooglePush(client),
        ack_status=200,  # G-PUSH: 200, 201, 202, 204 or 102 mean success
    )
