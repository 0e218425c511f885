"""Google calendars as ``CalendarOperations``: list the account's calendars, write a booking as an
event (idempotently, by its derived id), delete it (already gone is fine)."""

from __future__ import annotations

from connectors.google.client import ClientFactory, path
from connectors.google.mapping import insert_body, provider_calendar, send_updates
from connectors.google.schemas import CalendarListPage, EventWritten
from hub.connectors import CredentialStore, OutboundEvent, ProviderCalendar
from hub.errors import PermanentError, SkippableError


class GoogleCalendar:
    def __init__(self, connect: ClientFactory) -> None:
        self._connect = connect

    def list_calendars(self, credentials: CredentialStore) -> list[ProviderCalendar]:
        with self._connect(credentials) as api:
            pages = list(api.pages(path("users", "me", "calendarList"), CalendarListPage, params={"maxResults": "250"}))
        return [provider_calendar(entry) for page in pages for entry in page.items if not entry.deleted]

    def write_event(self, credentials: CredentialStore, calendar_id: str, event: OutboundEvent) -> str:
        body = insert_body(event)
        with self._connect(credentials) as api:
            try:
                written = api.call(
                    "POST",
                    path("calendars", calendar_id, "events"),
                    EventWritten,
                    params={"sendUpdates": send_updates(event)},
                    body=body,
                    overrides={404: (PermanentError, "calendar_not_found")},
                )
            except PermanentError as exc:
                if exc.code == "duplicate":
                    return body.id  # 409 duplicate: an earlier attempt already wrote this booking
                raise
        return written.id if written is not None else body.id

    def delete_event(self, credentials: CredentialStore, calendar_id: str, provider_event_id: str) -> None:
        with self._connect(credentials) as api:
            try:
                api.call(
                    "DELETE",
                    path("calendars", calendar_id, "events", provider_event_id),
                    params={"sendUpdates": "none"},
                )
            except SkippableError:
                return  # 404 not found / 410 deleted: already gone, which is what was asked
