"""The Google Calendar connector's spec and factory."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from connectors.google.auth import GoogleOAuth
from connectors.google.calendar import GoogleCalendar
from connectors.google.client import GoogleClient
from connectors.google.push import GooglePush
from connectors.google.sync import GoogleChangeFeed
from hub.connectors import Connector, ConnectorSpec
from hub.settings import Settings

SPEC = ConnectorSpec(
    slug="google",
    name="Google Calendar",
    capabilities=frozenset({"oauth", "calendars", "change_feed", "push"}),
    factory="connectors.google.spec:build",
)


def build(settings: Settings, *, sleep: Callable[[float], None] = time.sleep) -> Connector:
    """The connector's parts; ``sleep`` is what in-call retries wait with (tests pass a no-op)."""
    oauth = GoogleOAuth(settings, sleep=sleep)
    connect = partial(GoogleClient, settings, oauth, sleep=sleep)
    return Connector(
        oauth=oauth,
        calendars=GoogleCalendar(connect),
        feed=GoogleChangeFeed(connect),
        push=GooglePush(connect),
        ack_status=200,  # G-PUSH: 200, 201, 202, 204 or 102 mean success
    )
