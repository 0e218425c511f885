"""The Google change feed: ``events.list`` full and incremental sync (PROTOCOLS.md B).

A full pull (no cursor) lists every event with ``singleEvents=true`` (recurring events expanded
into instances) and no ``timeMin``/``timeMax``, which a sync token could not be combined with;
the last page carries ``nextSyncToken``. An incremental pull sends the same query with the
token and ``showDeleted=true``, so deletions and cancelled instances arrive as ``busy=False``.
A 410 on a token means it expired: ``ResyncRequired``, and core pulls everything again.
"""

from __future__ import annotations

from datetime import UTC

from connectors.google.client import RESYNC_ON_410, GoogleClient, path
from connectors.google.mapping import busy_change, event_state, zone
from connectors.google.schemas import EventsPage
from hub import http
from hub.connectors import BusyChange, ChangeBatch, CredentialStore, EventState, ProviderCalendar
from hub.errors import TransientError

PAGE_SIZE = "2500"  # Google's cap; the default (250) would mean ten times the calls


class GoogleChangeFeed:
    def __init__(self, client: GoogleClient) -> None:
        self.client = client

    def pull(self, credentials: CredentialStore, calendar: ProviderCalendar, cursor: str | None) -> ChangeBatch:
        params = {"singleEvents": "true", "maxResults": PAGE_SIZE}
        if cursor:
            params |= {"syncToken": cursor, "showDeleted": "true"}
        changes: list[BusyChange] = []
        events: list[EventState] = []
        sync_token: str | None = None
        for page in self.client.pages(
            credentials,
            path("calendars", calendar.provider_calendar_id, "events"),
            EventsPage,
            params=params,
            overrides=RESYNC_ON_410 if cursor else None,
        ):
            local = zone(calendar.timezone) or zone(page.time_zone) or UTC
            changes.extend(busy_change(event, local) for event in page.items)
            events.extend(event_state(event, local) for event in page.items)
            sync_token = page.next_sync_token or sync_token
        if not sync_token:
            raise TransientError("Google ended the event list without a nextSyncToken", code=http.PROVIDER_BAD_RESPONSE)
        return ChangeBatch(changes=changes, cursor=sync_token, full=cursor is None, events=events)
