"""The CalDAV connector's spec and factory (Apple iCloud, Fastmail, Nextcloud, any CalDAV server).

Linked with a server, a user name and an app-specific password (``password`` capability), not
OAuth; no push: every busy calendar is polled every ``POLL_EVERY`` (``ConnectorSpec.poll_every``).

``build(settings)`` makes no network call. Every request goes through Hub's egress guard
(``hub.egress``: checked, then pinned to the checked addresses; private and loopback addresses
only with ``HUB_CALDAV_ALLOW_PRIVATE``), or, in tests, through the ``transport`` given.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Final

import httpx

from connectors.caldav._transport import fixed, guarded
from connectors.caldav.auth import CalDavLinker
from connectors.caldav.calendar import CalDavCalendars
from connectors.caldav.client import CalDavClient
from connectors.caldav.sync import CalDavChangeFeed
from hub.connectors import Connector, ConnectorSpec
from hub.settings import Settings

POLL_EVERY: Final = timedelta(minutes=5)

SPEC = ConnectorSpec(
    slug="caldav",
    name="CalDAV",
    capabilities=frozenset({"password", "calendars", "change_feed"}),
    factory="connectors.caldav.spec:build",
    poll_every=POLL_EVERY,
)


def build(
    settings: Settings,
    *,
    sleep: Callable[[float], None] = time.sleep,
    transport: httpx.BaseTransport | None = None,
) -> Connector:
    """The CalDAV connector (a ``hub.connectors.ConnectorFactory``)."""
    allow_private = settings.caldav_allow_private
    opener = fixed(transport) if transport is not None else guarded(allow_private=allow_private)
    client = CalDavClient(opener, sleep=sleep)
    calendars = CalDavCalendars(client)
    return Connector(
        password=CalDavLinker(client, calendars, allow_private=allow_private or transport is not None),
        calendars=calendars,
        feed=CalDavChangeFeed(client),
    )
