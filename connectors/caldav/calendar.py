"""CalDAV calendars as ``CalendarOperations``: list the account's calendars, write a booking as
one ``.ics`` resource, move it in place, delete it.

* A booking's resource is ``<calendar>/hub-<booking id>.ics`` with ``UID <booking id>@hub``: a
  retried write lands on the same resource. The create is ``PUT`` with ``If-None-Match: *``; a
  ``412`` means an earlier attempt already wrote it, and its id is returned.
* The provider event id is the resource URL (canonical, as the change feed spells the ``item``
  it reads back: ``hub.connectors.event_item``), with the ETag the server answered kept after a
  ``#`` (a fragment, never sent): ``update_event`` sends it as ``If-Match``. If the resource
  changed meanwhile (``412``) the booking's time still wins (``If-Match`` on the current ETag);
  if it is gone, it is written afresh.
* ``delete_event`` is a ``DELETE`` of the resource; one already gone is fine.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from caldav.collection import Calendar as DavCalendar
from caldav.collection import CalendarSet
from caldav.davclient import DAVClient
from caldav.lib.url import URL

from connectors.caldav.client import TABLE, CalDavClient, done, response_status
from connectors.caldav.mapping import event_ics, resource_name
from connectors.caldav.schemas import Account
from hub.clock import utcnow
from hub.connectors import CredentialStore, OutboundEvent, ProviderCalendar
from hub.errors import PipelineError, SkippableError

ICS_HEADERS: Final = {"Content-Type": "text/calendar; charset=utf-8"}
VEVENT: Final = "VEVENT"


def split_id(provider_event_id: str) -> tuple[str, str | None]:
    """(resource URL, kept ETag or None)."""
    url, _, etag = provider_event_id.partition("#")
    return url, etag or None


def join_id(url: str, etag: str | None) -> str:
    return f"{url}#{etag}" if etag else url


def resource_url(calendar_id: str, booking_id: str) -> str:
    """The booking's resource, spelt as the change feed names the resources it reads (python-caldav's
    canonical URL: explicit port, quoted path), so Hub knows its own resource when it reads it back."""
    return str(URL.objectify(f"{calendar_id.rstrip('/')}/{resource_name(booking_id)}").canonical())


def _failed(response: Any, what: str) -> PipelineError:
    status = response_status(response)
    return TABLE.error(f"HTTP {status} from the CalDAV server ({what})", status=status, reason=None)


def _etag(response: Any) -> str | None:
    headers = getattr(response, "headers", None) or {}
    value = headers.get("ETag") or headers.get("etag")
    return str(value) if value else None


def _calendar(entry: DavCalendar) -> ProviderCalendar | None:
    """A calendar that can hold events, or None (task lists, journals)."""
    try:
        components = done(entry.get_supported_components())
    except Exception:  # noqa: BLE001 - a server that does not say: assume every component
        components = [VEVENT]
    if components and VEVENT not in [str(c).upper() for c in components]:
        return None
    name = entry.get_display_name() or str(entry.url).rstrip("/").rsplit("/", 1)[-1]
    return ProviderCalendar(provider_calendar_id=str(entry.url), name=str(name))


class CalDavCalendars:
    def __init__(self, client: CalDavClient, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.client = client
        self._clock = clock

    def calendars_at(self, client: DAVClient, home_url: str) -> list[ProviderCalendar]:
        entries = done(CalendarSet(client=client, url=home_url).get_calendars())
        found = [_calendar(entry) for entry in entries]
        listed = [calendar for calendar in found if calendar is not None]
        if listed:
            listed[0] = ProviderCalendar(listed[0].provider_calendar_id, listed[0].name, primary=True)
        return listed

    def list_calendars(self, credentials: CredentialStore) -> list[ProviderCalendar]:
        home = Account.of(credentials).home_url
        return self.client.run(credentials, lambda dav: self.calendars_at(dav, home), "listing calendars")

    def _put(self, dav: DAVClient, url: str, body: bytes, condition: dict[str, str]) -> Any:
        return dav.put(url, body.decode("utf-8"), {**ICS_HEADERS, **condition})

    def _current_etag(self, dav: DAVClient, url: str) -> tuple[int, str | None]:
        answer = dav.request(url, "GET")
        return response_status(answer), _etag(answer)

    def write_event(self, credentials: CredentialStore, calendar_id: str, event: OutboundEvent) -> str:
        url = resource_url(calendar_id, event.booking_id)
        body = event_ics(event, self._clock())

        def create(dav: DAVClient) -> str:
            answer = self._put(dav, url, body, {"If-None-Match": "*"})
            status = response_status(answer)
            if status in (200, 201, 204):
                return join_id(url, _etag(answer))
            if status == 412:  # an earlier attempt wrote this booking already
                found, etag = self._current_etag(dav, url)
                if found == 200:
                    return join_id(url, etag)
            raise _failed(answer, "writing a booking")

        return self.client.run(credentials, create, "writing a booking")

    def update_event(
        self, credentials: CredentialStore, calendar_id: str, provider_event_id: str, event: OutboundEvent
    ) -> str:
        url, kept = split_id(provider_event_id)
        body = event_ics(event, self._clock())

        def update(dav: DAVClient) -> str:
            condition = {"If-Match": kept} if kept else {}
            answer = self._put(dav, url, body, condition)
            status = response_status(answer)
            if status in (412, 404):
                found, etag = self._current_etag(dav, url)
                retry = {"If-Match": etag} if found == 200 and etag else {"If-None-Match": "*"}
                answer = self._put(dav, url, body, retry)
                status = response_status(answer)
            if status in (200, 201, 204):
                return join_id(url, _etag(answer))
            raise _failed(answer, "moving a booking")

        return self.client.run(credentials, update, "moving a booking")

    def delete_event(self, credentials: CredentialStore, calendar_id: str, provider_event_id: str) -> None:
        url, _ = split_id(provider_event_id)

        def remove(dav: DAVClient) -> None:
            answer = dav.delete(url)
            status = response_status(answer)
            if status in (200, 204, 404, 410):
                return
            raise _failed(answer, "deleting a booking")

        try:
            self.client.run(credentials, remove, "deleting a booking")
        except SkippableError:
            return
