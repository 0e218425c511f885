"""``ChangeFeed`` over Graph's ``calendarView/delta`` (PROTOCOLS E).

* Full pull (``cursor`` None): ``GET /me/calendars/{id}/calendarView/delta`` over a rolling
  window, ``now - 30 days`` to ``now + 365 days``: far enough back for recent history and ahead
  for any booking horizon; calendarView expands recurring series into occurrences.
* Then only the links Graph returns are followed, as-is: ``@odata.nextLink`` until a page carries
  ``@odata.deltaLink``. The delta link is the cursor; the next pull GETs it unchanged.
* The delta token encodes the window it was created with, so the window does not roll forward
  on its own: a full pull (core dropping the cursor, e.g. its periodic safety-net resync) moves
  it. Events that only enter ``now + 365 days`` later are picked up by that full pull.
* Every request says ``Prefer: outlook.timezone="UTC"`` and ``odata.maxpagesize``.
* 410 / ``syncStateNotFound`` / ``resyncRequired`` -> ``ResyncRequired``: drop the cursor and
  pull everything again.
* Pages are followed by ``MicrosoftClient.pages`` (at most ``hub.provider_client.MAX_PAGES``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final

from connectors.microsoft.client import PREFER_UTC, MicrosoftClient, prefer, segment
from connectors.microsoft.mapping import busy_change, delta_state
from connectors.microsoft.schemas import DeltaPage
from hub import http
from hub.clock import utcnow
from hub.connectors import BusyChange, ChangeBatch, CredentialStore, EventState, ProviderCalendar
from hub.errors import TransientError

WINDOW_BACK: Final = timedelta(days=30)
WINDOW_AHEAD: Final = timedelta(days=365)
PAGE_SIZE: Final = 100


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class MicrosoftChangeFeed:
    def __init__(
        self, client: MicrosoftClient, *, page_size: int = PAGE_SIZE, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.client = client
        self.page_size = page_size
        self._clock = clock

    def pull(self, credentials: CredentialStore, calendar: ProviderCalendar, cursor: str | None) -> ChangeBatch:
        params: dict[str, str] | None = None
        if cursor is None:
            now = self._clock()
            link = f"/me/calendars/{segment(calendar.provider_calendar_id)}/calendarView/delta"
            params = {"startDateTime": _utc(now - WINDOW_BACK), "endDateTime": _utc(now + WINDOW_AHEAD)}
        else:
            link = cursor
        changes: dict[str, BusyChange] = {}
        states: dict[str, EventState] = {}
        delta_link: str | None = None
        headers = prefer(f"odata.maxpagesize={self.page_size}", PREFER_UTC)
        for page in self.client.pages(credentials, link, DeltaPage, params=params, headers=headers):
            for event in page.value:
                change = busy_change(event, all_day_zone=calendar.timezone)
                if change is not None:
                    changes[change.provider_event_id] = change  # a later page's state wins
                state = delta_state(event)
                if state is not None:
                    states[state.provider_event_id] = state
            delta_link = page.delta_link
        if not delta_link:
            raise TransientError(
                "Graph delta ended with neither nextLink nor deltaLink", code=http.PROVIDER_BAD_RESPONSE
            )
        return ChangeBatch(
            changes=list(changes.values()), cursor=delta_link, full=cursor is None, events=list(states.values())
        )
