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
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final

from connectors.microsoft.client import PREFER_UTC, GraphClient, decode, segment
from connectors.microsoft.mapping import busy_change
from connectors.microsoft.schemas import DeltaPage
from hub.connectors import BusyChange, ChangeBatch, CredentialStore, ProviderCalendar
from hub.errors import TransientError

WINDOW_BACK: Final = timedelta(days=30)
WINDOW_AHEAD: Final = timedelta(days=365)
PAGE_SIZE: Final = 100
MAX_PAGES: Final = 2_000  # a guard against a link loop, far above any real calendar


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class MicrosoftFeed:
    def __init__(
        self, graph: GraphClient, *, page_size: int = PAGE_SIZE, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.graph = graph
        self.page_size = page_size
        self._clock = clock or (lambda: datetime.now(UTC))

    def pull(self, credentials: CredentialStore, calendar: ProviderCalendar, cursor: str | None) -> ChangeBatch:
        prefer = (f"odata.maxpagesize={self.page_size}", PREFER_UTC)
        if cursor is None:
            now = self._clock()
            link = f"/me/calendars/{segment(calendar.provider_calendar_id)}/calendarView/delta"
            params: dict[str, str] | None = {
                "startDateTime": _utc(now - WINDOW_BACK),
                "endDateTime": _utc(now + WINDOW_AHEAD),
            }
        else:
            link, params = cursor, None
        changes: dict[str, BusyChange] = {}
        for _ in range(MAX_PAGES):
            page = decode(self.graph.request(credentials, "GET", link, params=params, prefer=prefer), DeltaPage)
            for event in page.value:
                change = busy_change(event, all_day_zone=calendar.timezone)
                if change is not None:
                    changes[change.provider_event_id] = change  # a later page's state wins
            if page.delta_link:
                return ChangeBatch(changes=list(changes.values()), cursor=page.delta_link, full=cursor is None)
            if not page.next_link:
                raise TransientError("Graph delta page has neither nextLink nor deltaLink", code="graph_bad_response")
            link, params = page.next_link, None
        raise TransientError(f"Graph delta did not end within {MAX_PAGES} pages", code="graph_delta_too_long")
