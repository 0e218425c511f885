"""The Microsoft 365 / Outlook connector's spec and its factory.

``build(settings)`` makes no network call (MSAL's OpenID discovery happens on first use) and
wires one httpx client (its connection pool serves every call of the connector: Graph, MSAL's
discovery and token calls), MSAL, the Graph client, and the cross-process mailbox limiter.
The limiter uses ``settings.redis_url`` (``hub.redis.connect``); with no URL it limits per
process. Build once per process and reuse the ``Connector``: it owns an httpx connection pool
and a Redis connection pool.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from connectors.microsoft._limiter import MailboxLimiter
from connectors.microsoft.auth import MicrosoftOAuth, MicrosoftTokens
from connectors.microsoft.calendar import MicrosoftCalendars
from connectors.microsoft.client import TABLE, MicrosoftClient
from connectors.microsoft.push import MicrosoftPush
from connectors.microsoft.sync import MicrosoftChangeFeed
from hub import http
from hub.connectors import Connector, calendar_spec
from hub.redis import connect
from hub.settings import Settings

SPEC = calendar_spec("microsoft", "Microsoft 365 / Outlook", conferencing=frozenset({"teams"}))


def build(
    settings: Settings,
    *,
    sleep: Callable[[float], None] = time.sleep,
    transport: httpx.BaseTransport | None = None,
) -> Connector:
    """The Microsoft connector (a ``hub.connectors.ConnectorFactory``)."""
    http_client = http.client(transport=transport)
    tokens = MicrosoftTokens(
        client_id=settings.microsoft_client_id or "",
        client_secret=settings.microsoft_client_secret or "",
        authority=settings.microsoft_authority,
        http=http_client,
    )
    limiter = MailboxLimiter(connect(settings.redis_url) if settings.redis_url else None)
    client = MicrosoftClient(
        tokens,
        base_url=settings.microsoft_graph_url,
        http_client=http_client,
        table=TABLE,
        limiter=limiter,
        sleep=sleep,
    )
    return Connector(
        oauth=MicrosoftOAuth(tokens, client),
        calendars=MicrosoftCalendars(client),
        feed=MicrosoftChangeFeed(client),
        push=MicrosoftPush(client),
        ack_status=202,  # Graph: persist, then 202 Accepted (PROTOCOLS D)
    )
