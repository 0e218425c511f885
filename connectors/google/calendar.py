"""Google calendars as ``CalendarOperations``: list the account's calendars, write a booking as an
event (idempotently, by its derived id), update it in place when the booking moves
(``events.patch``; an event gone at Google is written again under the booking's id), delete it
(already gone is fine); and as an ``EventReader``: read one back (``events.get``).

A booking asking for Google Meet is inserted with ``conferenceDataVersion=1`` and
``conferenceData.createRequest`` (a ``requestId`` derived from the booking): a retried insert
answers 409 ``duplicate`` for the event id, and the same request id would be ignored anyway, so
one booking never gets two conferences. A patch sends no ``conferenceData``, which keeps it."""

from __future__ import annotations

from datetime import UTC

from connectors.google.client import CALENDAR_GONE_ON_404, GoogleClient, path
from connectors.google.mapping import (
    conference_version,
    event_state,
    insert_body,
    patch_body,
    provider_calendar,
    send_updates,
)
from connectors.google.schemas import CalendarListPage, Event, EventWritten
from hub.connectors import CredentialStore, EventState, OutboundEvent, ProviderCalendar
from hub.errors import PermanentError, SkippableError

DUPLICATE = "duplicate"  # Google's reason on a 409 for an event id that already exists


class GoogleCalendars:
    def __init__(self, client: GoogleClient) -> None:
        self.client = client

    def list_calendars(self, credentials: CredentialStore) -> list[ProviderCalendar]:
        pages = self.client.pages(
            credentials, path("users", "me", "calendarList"), CalendarListPage, params={"maxResults": "250"}
        )
        return [provider_calendar(entry) for page in pages for entry in page.items if not entry.deleted]

    def write_event(self, credentials: CredentialStore, calendar_id: str, event: OutboundEvent) -> str:
        body = insert_body(event)
        try:
            written = self.client.call(
                credentials,
                "POST",
                path("calendars", calendar_id, "events"),
                EventWritten,
                params={"sendUpdates": send_updates(event), "conferenceDataVersion": conference_version(event)},
                body=body,
                overrides=CALENDAR_GONE_ON_404,
            )
        except PermanentError as exc:
            if exc.provider_code == DUPLICATE:
                return body.id  # an earlier attempt already wrote this booking
            raise
        return written.id

    def update_event(
        self, credentials: CredentialStore, calendar_id: str, provider_event_id: str, event: OutboundEvent
    ) -> str:
        try:
            written = self.client.call(
                credentials,
                "PATCH",
                path("calendars", calendar_id, "events", provider_event_id),
                EventWritten,
                params={"sendUpdates": send_updates(event)},
                body=patch_body(event),
            )
        except SkippableError:  # 404 not found / 410 deleted: write it again under the booking's id
            return self.write_event(credentials, calendar_id, event)
        return written.id

    def read_event(self, credentials: CredentialStore, calendar_id: str, provider_event_id: str) -> EventState | None:
        """``events.get``; a deleted event (404, 410, or ``status: cancelled``) is gone."""
        try:
            found = self.client.get(credentials, path("calendars", calendar_id, "events", provider_event_id), Event)
        except SkippableError:
            return None
        return event_state(found, UTC)

    def delete_event(self, credentials: CredentialStore, calendar_id: str, provider_event_id: str) -> None:
        try:
            self.client.call(
                credentials,
                "DELETE",
                path("calendars", calendar_id, "events", provider_event_id),
                params={"sendUpdates": "none"},
            )
        except SkippableError:
            return  # 404 not found / 410 deleted: already gone, which is what was asked
