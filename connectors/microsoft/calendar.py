"""``CalendarOperations`` over Graph: list calendars, write a booking's event, update it in
place when the booking moves (``PATCH /me/events/{id}``; an event gone at Graph is written
again), delete it; and ``EventReader``: read one back (``GET /me/events/{id}``).

A booking asking for Teams is created with ``isOnlineMeeting: true`` and ``onlineMeetingProvider:
"teamsForBusiness"`` (only offered for calendars whose ``allowedOnlineMeetingProviders`` has it);
the link is the event's ``onlineMeeting.joinUrl``. The transactionId dedup below keeps a retried
create from making a second event, hence a second meeting.

Writing is idempotent (DESIGN §7) by two means:

1. Every create carries ``transactionId = "hub-<booking id>"``: Graph drops a repeated POST of
   the same event ("to avoid redundant POST operations in case of client retries"). It
   documents no retention window and no answer for a duplicate (no 409, PROTOCOLS E).
2. Every event Hub creates also carries the booking id in a single-value extended property.
   After the create, the booking's events in the calendar are looked up by that property: if
   Graph ever created a second one (a retry after the undocumented dedup window), the oldest is
   kept, the others are deleted, and the oldest's id is returned. So the same booking always
   ends as one event with one id. Should Graph answer 409 after all, the look-up finds the
   existing event. Cost: one GET per write.
"""

from __future__ import annotations

from connectors.microsoft.client import PREFER_UTC, MicrosoftClient, prefer, segment
from connectors.microsoft.mapping import booking_filter, create_body, event_state, provider_calendar, update_body
from connectors.microsoft.schemas import CalendarPage, Event, EventList
from hub import http
from hub.connectors import CredentialStore, EventState, OutboundEvent, ProviderCalendar
from hub.errors import PermanentError, SkippableError

READ_BACK = "id,start,end,isCancelled,attendees,isOnlineMeeting,onlineMeetingProvider,onlineMeeting"


class MicrosoftCalendars:
    def __init__(self, client: MicrosoftClient) -> None:
        self.client = client

    def list_calendars(self, credentials: CredentialStore) -> list[ProviderCalendar]:
        """Every calendar of the mailbox (``mapping.provider_calendar``)."""
        return [
            provider_calendar(item)
            for page in self.client.pages(credentials, "/me/calendars", CalendarPage)
            for item in page.value
        ]

    def read_event(self, credentials: CredentialStore, calendar_id: str, provider_event_id: str) -> EventState | None:
        """The event in UTC; one that is gone (404 / ``itemNotFound``) is None."""
        try:
            found = self.client.get(
                credentials,
                f"/me/events/{segment(provider_event_id)}",
                Event,
                params={"$select": READ_BACK},
                headers=prefer(PREFER_UTC),
            )
        except SkippableError:
            return None
        return event_state(found)

    def booking_events(self, credentials: CredentialStore, calendar_id: str, booking_id: str) -> list[Event]:
        """The events Hub wrote for ``booking_id`` in this calendar, oldest first."""
        found = self.client.get(
            credentials,
            f"/me/calendars/{segment(calendar_id)}/events",
            EventList,
            params={"$filter": booking_filter(booking_id), "$select": "id,createdDateTime", "$top": "10"},
            headers=prefer(PREFER_UTC),
        )
        return sorted(found.value, key=lambda e: (e.created_date_time or "", e.id))

    def write_event(self, credentials: CredentialStore, calendar_id: str, event: OutboundEvent) -> str:
        created: str | None
        try:
            written = self.client.call(
                credentials, "POST", f"/me/calendars/{segment(calendar_id)}/events", Event, body=create_body(event)
            )
            created = written.id
        except PermanentError as exc:
            if exc.code != http.CONFLICT:
                raise
            created = None
        found = self.booking_events(credentials, calendar_id, event.booking_id)
        if not found:
            if created is None:
                raise PermanentError(
                    "Graph refused the event as a conflict and holds none for this booking", code=http.CONFLICT
                )
            return created  # not yet visible to the look-up: the create's own id
        keep, *duplicates = found
        for duplicate in duplicates:
            self.delete_event(credentials, calendar_id, duplicate.id)
        return keep.id

    def update_event(
        self, credentials: CredentialStore, calendar_id: str, provider_event_id: str, event: OutboundEvent
    ) -> str:
        """Patch the event to the booking's new state; one that is gone (404) is written again."""
        try:
            written = self.client.call(
                credentials, "PATCH", f"/me/events/{segment(provider_event_id)}", Event, body=update_body(event)
            )
        except SkippableError:
            return self.write_event(credentials, calendar_id, event)
        return written.id

    def delete_event(self, credentials: CredentialStore, calendar_id: str, provider_event_id: str) -> None:
        """Delete the event; one that is already gone (404 / ``itemNotFound``) is fine."""
        try:
            self.client.call(credentials, "DELETE", f"/me/events/{segment(provider_event_id)}")
        except SkippableError:
            return
