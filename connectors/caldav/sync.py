"""``ChangeFeed`` over CalDAV: ``sync-collection`` (RFC 6578) where the server offers it, else
python-caldav's comparison of the calendar's ETags (its ``fake-`` token, a hash over them).

* Full pull (no cursor, or the expansion window must move): every object of the calendar, each
  expanded over ``now - 30 days`` to ``now + 400 days`` (``mapping.busy_changes``). The cursor
  keeps the server's sync token and that window's end.
* Incremental pull: the objects changed since the token, and the ones removed
  (``BusyChange(item=href, busy=False)``): each changed resource replaces every block Hub holds
  for it. An expired token (``valid-sync-token``) raises ``ResyncRequired`` and core pulls
  everything again. Without sync-collection, an unchanged calendar yields nothing and a changed
  one is pulled in full.
* Once the window's end is more than a day short of ``now + 400 days`` the next pull is a full
  one: recurring events are expanded over a window that moves with time, so a client can always
  ask for a year ahead and more.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from caldav.collection import Calendar as DavCalendar
from caldav.davclient import DAVClient

from connectors.caldav.client import CalDavClient, done
from connectors.caldav.mapping import busy_changes
from connectors.caldav.schemas import Cursor
from hub.clock import utcnow
from hub.connectors import BusyChange, ChangeBatch, CredentialStore, ProviderCalendar

WINDOW_BACK: Final = timedelta(days=30)
WINDOW_AHEAD: Final = timedelta(days=400)
MOVE_AFTER: Final = timedelta(days=1)
FAKE_TOKEN: Final = "fake-"  # noqa: S105 - the prefix of python-caldav's emulated sync tokens


def _href(obj: Any) -> str:
    return str(obj.url.canonical())


class CalDavChangeFeed:
    def __init__(self, client: CalDavClient, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.client = client
        self._clock = clock

    def pull(self, credentials: CredentialStore, calendar: ProviderCalendar, cursor: str | None) -> ChangeBatch:
        now = self._clock()
        state = Cursor.decode(cursor)
        if state is not None and state.until < now + WINDOW_AHEAD - MOVE_AFTER:
            state = None  # the expansion window moves forward: everything again
        until = now + WINDOW_AHEAD if state is None else state.until
        window = (now - WINDOW_BACK, until)
        token = state.token if state is not None else None

        def collect(dav: DAVClient) -> ChangeBatch:
            target = DavCalendar(client=dav, url=calendar.provider_calendar_id)
            real = token is not None and not token.startswith(FAKE_TOKEN)
            result = done(target.get_objects_by_sync_token(sync_token=token, load_objects=True, disable_fallback=real))
            new_token = str(result.sync_token) if result.sync_token else None
            # Without sync-collection a changed calendar comes back whole.
            full = token is None or (not real and bool(result.objects))
            deleted = {str(url) for url in (result.deleted_urls or ())}
            changes: list[BusyChange] = []
            for obj in result.objects:
                href = _href(obj)
                data = obj.data if href not in deleted else None
                if data:
                    changes.extend(busy_changes(href, data, window, calendar.timezone))
                elif not full:
                    changes.append(BusyChange(provider_event_id=href, busy=False, item=href))
            for href in deleted - {_href(obj) for obj in result.objects}:
                changes.append(BusyChange(provider_event_id=href, busy=False, item=href))
            if full:
                changes = [change for change in changes if change.busy]
            return ChangeBatch(changes=changes, cursor=Cursor(token=new_token, until=until).encode(), full=full)

        return self.client.run(credentials, collect, "syncing a calendar")
