"""The Microsoft 365 / Outlook connector's spec and its factory.

``build(settings)`` makes no network call (MSAL's OpenID discovery happens on first use) and
wires one shared httpx client, MSAL, the Graph client, and the cross-process mailbox limiter.
The limiter uses ``settings.redis_url`` (``hub.redis.connect``); with no URL it limits per
process. Build once per process and reuse the ``Connector``: it owns an httpx connection pool
and a Redis connection pool.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from connectors.microsoft._limiter import MailboxLimiter
from connectors.microsoft.auth import MicrosoftLinker, MicrosoftTokens
from connectors.microsoft.calendar import MicrosoftCalendars
from connectors.microsoft.client import GraphClient
from connectors.microsoft.push import MicrosoftPush
from connectors.microsoft.sync import MicrosoftFeed
from hub.connectors import Connector, ConnectorSpec
from hub.http import client
from hub.redis import connect
from hub.settings import Settings

SPEC = ConnectorSpec(
    slug="microsoft",
    name="Microsoft 365 / Outlook",
    capabilities=frozenset({"oauth", "calendars", "change_feed", "push"}),
    factory="connectors.microsoft.spec:build",
)


def build(settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> Connector:
    """The connector for ``settings``; ``sleep`` is the in-call retry wait (tests record it)."""
    http = client()
    tokens = MicrosoftTokens(
        client_id=settings.microsoft_client_id or "",
        client_secret=settings.microsoft_client_secret or "",
        authority=settings.microsoft_authority,
        http=http,
    )
    limiter = MailboxLimiter(connect(settings.redis_url) if settings.redis_url else None)
    graph = GraphClient(tokens, base_url=settings.microsoft_graph_url, http=http, limiter=limiter, sleep=sleep)
    return Connector(
        oauth=MicrosoftLinker(tokens, graph.profile),
        calendars=MicrosoftCalendars(graph),
        feed=MicrosoftFeed(graph),
        push=MicrosoftPush(graph),
        ack_status=202,
    )
