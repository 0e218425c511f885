"""The Google change feed: ``events.list`` full and incremental sync (PROTOCOLS.md B).

A full pull (no cursor) lists every event with ``singleEvents=true`` (recurring events expanded
into instances) and no ``timeMin``/``timeMax``, which a sync token could not be combined with;
the last page carries ``nextSyncToken``. An incremental pull sends the same query with the
token and ``showDeleted=true``, so deletions and cancelled instances arrive as ``busy=False``.
A 410 on a token means it expired: ``ResyncRequired``, and core pulls everything again.
"""

from __future__ import annotations

from datetime import UTC

from connectors.google.client import ClientFactory, path
from connectors.google.mapping import busy_change, zone
from connectors.google.schemas import EventsPage
from hub.connectors import BusyChange, ChangeBatch, CredentialStore, ProviderCalendar, ResyncRequired
from hub.errors import TransientError

PAGE_SIZE = "2500"  # Google's cap; the default (250) would mean ten times the calls


class GoogleChangeFeed:
    def __init__(self, connect: ClientFactory) -> None:
        self._connect = connect

    def pull(self, credentials: CredentialStore, calendar: ProviderCalendar, cursor: str | None) -> ChangeBatch:
        params = {"singleEvents": "true", "maxResults": PAGE_SIZE}
        if cursor:
            params |= {"syncToken": cursor, "showDeleted": "true"}
        changes: list[BusyChange] = []
        sync_token: str | None = None
        with self._connect(credentials) as api:
            for page in api.pages(
                path("calendars", calendar.provider_calendar_id, "events"),
                EventsPage,
                params=params,
                # Any 410 on a token request means "start over", with or without fullSyncRequired.
                overrides={410: (ResyncRequired, "resync_required")} if cursor else None,
            ):
                local = zone(calendar.timezone) or zone(page.time_zone) or UTC
                changes.extend(busy_change(event, local) for event in page.items)
                sync_token = page.next_sync_token or sync_token
        if not sync_token:
            raise TransientError("Google ended the event list without a nextSyncToken", code="missing_sync_token")
        return ChangeBatch(changes=changes, cursor=sync_token, full=cursor is None)
