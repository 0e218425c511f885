"""Calendars and booking events (PROTOCOLS E, event JSON): list, idempotent write with a
transactionId and a look-up by booking, delete (404 is fine)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
import respx

from connectors.microsoft.mapping import BOOKING_PROPERTY_ID
from hub.connectors import Connector, OutboundEvent, ProviderCalendar
from hub.errors import PermanentError
from tests.connectors.microsoft.helpers import CALENDAR_ID, CALENDARS, GRAPH, fixture, respond
from tests.connectors.shared_suite.harness import MemoryStore

EVENTS = f"{GRAPH}/me/calendars/{CALENDAR_ID}/events"
BOOKING = OutboundEvent(
    booking_id="bkg_01jd3w9k6v0m3y0q6d2x9t7h1e",
    title="Quarterly planning",
    start=datetime(2026, 3, 10, 9, tzinfo=UTC),
    end=datetime(2026, 3, 10, 10, tzinfo=UTC),
    timezone="Europe/Berlin",
)
CREATED_ID = fixture("graph_event_timed")["id"]


def found(*events: tuple[str, str]) -> httpx.Response:
    return httpx.Response(200, json={"value": [{"id": i, "createdDateTime": at} for i, at in events]})


def test_calendars_are_listed_with_primary_and_writable(
    microsoft: respx.MockRouter, connector: Connector, store: MemoryStore
) -> None:
    page2 = {"value": [{"id": "AAMkAGI2TG95AAA=", "name": "Team", "isDefaultCalendar": False, "canEdit": True}]}
    first = {**CALENDARS, "@odata.nextLink": f"{GRAPH}/me/calendars?$skip=2"}
    microsoft.get(f"{GRAPH}/me/calendars?$skip=2").respond(json=page2)
    microsoft.get(f"{GRAPH}/me/calendars").mock(
        side_effect=lambda request: httpx.Response(200, json=page2 if "$skip" in str(request.url) else first)
    )

    assert connector.calendars.list_calendars(store) == [
        ProviderCalendar(CALENDAR_ID, "Calendar", primary=True, writable=True),
        ProviderCalendar("AAMkAGI2TG94AAA=", "United States holidays", primary=False, writable=False),
        ProviderCalendar("AAMkAGI2TG95AAA=", "Team", primary=False, writable=True),
    ]


def test_writing_posts_the_event_with_its_transaction_id(
    microsoft: respx.MockRouter, connector: Connector, store: MemoryStore
) -> None:
    create = microsoft.post(EVENTS, name="create").mock(return_value=respond("graph_event_timed", 201))
    lookup = microsoft.get(EVENTS, name="lookup").mock(return_value=found((CREATED_ID, "2026-03-02T10:15:30Z")))

    assert connector.calendars.write_event(store, CALENDAR_ID, BOOKING) == CREATED_ID

    body = json.loads(create.calls.last.request.content)
    assert body["transactionId"] == "hub-bkg_01jd3w9k6v0m3y0q6d2x9t7h1e"
    assert body["start"] == {"dateTime": "2026-03-10T10:00:00", "timeZone": "Europe/Berlin"}
    query = lookup.calls.last.request.url.params
    assert query["$filter"] == (
        "singleValueExtendedProperties/Any(ep: "
        f"ep/id eq '{BOOKING_PROPERTY_ID}' and ep/value eq '{BOOKING.booking_id}')"
    )


def test_a_retried_write_that_graph_deduplicates_returns_the_same_event(
    microsoft: respx.MockRouter, connector: Connector, store: MemoryStore
) -> None:
    create = microsoft.post(EVENTS).mock(return_value=respond("graph_event_timed", 201))
    microsoft.get(EVENTS).mock(return_value=found((CREATED_ID, "2026-03-02T10:15:30Z")))
    first = connector.calendars.write_event(store, CALENDAR_ID, BOOKING)
    again = connector.calendars.write_event(store, CALENDAR_ID, BOOKING)
    assert first == again == CREATED_ID
    assert [json.loads(c.request.content)["transactionId"] for c in create.calls] == ["hub-" + BOOKING.booking_id] * 2


def test_a_duplicate_graph_did_not_catch_is_deleted_and_the_first_event_kept(
    microsoft: respx.MockRouter, connector: Connector, store: MemoryStore
) -> None:
    duplicate = {**fixture("graph_event_timed"), "id": "AAMkAGI1AAAduplicate="}
    microsoft.post(EVENTS).respond(201, json=duplicate)
    microsoft.get(EVENTS).mock(
        return_value=found(("AAMkAGI1AAAduplicate=", "2026-03-03T08:00:00Z"), (CREATED_ID, "2026-03-02T10:15:30Z"))
    )
    delete = microsoft.delete(f"{GRAPH}/me/events/AAMkAGI1AAAduplicate=", name="delete").respond(204)

    assert connector.calendars.write_event(store, CALENDAR_ID, BOOKING) == CREATED_ID
    assert delete.call_count == 1


def test_a_409_finds_the_existing_event(microsoft: respx.MockRouter, connector: Connector, store: MemoryStore) -> None:
    conflict = {"error": {"code": "ErrorDuplicateTransactionId", "message": "(never read)"}}
    microsoft.post(EVENTS).respond(409, json=conflict)
    microsoft.get(EVENTS).mock(return_value=found((CREATED_ID, "2026-03-02T10:15:30Z")))
    assert connector.calendars.write_event(store, CALENDAR_ID, BOOKING) == CREATED_ID


def test_a_409_without_an_existing_event_is_permanent(
    microsoft: respx.MockRouter, connector: Connector, store: MemoryStore
) -> None:
    microsoft.post(EVENTS).respond(409, json={"error": {"code": "conflict"}})
    microsoft.get(EVENTS).mock(return_value=found())
    with pytest.raises(PermanentError):
        connector.calendars.write_event(store, CALENDAR_ID, BOOKING)


def test_deleting_an_event_that_is_already_gone_is_fine(
    microsoft: respx.MockRouter, connector: Connector, store: MemoryStore
) -> None:
    gone = {"error": {"code": "ErrorItemNotFound", "message": "The specified object was not found in the store."}}
    route = microsoft.delete(f"{GRAPH}/me/events/{CREATED_ID}").mock(
        side_effect=[httpx.Response(204), httpx.Response(404, json=gone)]
    )
    connector.calendars.delete_event(store, CALENDAR_ID, CREATED_ID)
    connector.calendars.delete_event(store, CALENDAR_ID, CREATED_ID)
    assert route.call_count == 2


# --- PATCH /me/events/{id}: a moved booking ----------------------------------------------------

MOVED = OutboundEvent(
    booking_id=BOOKING.booking_id,
    title=BOOKING.title,
    start=datetime(2026, 7, 10, 9, tzinfo=UTC),
    end=datetime(2026, 7, 10, 10, 30, tzinfo=UTC),
    timezone="Europe/Berlin",
)


def test_a_moved_booking_is_patched_in_place_in_its_zone(
    microsoft: respx.MockRouter, connector: Connector, store: MemoryStore
) -> None:
    event = fixture("graph_event_timed")
    patched = microsoft.patch(f"{GRAPH}/me/events/{CREATED_ID}").mock(
        side_effect=lambda request: httpx.Response(200, json={**event, **json.loads(request.content)})
    )
    assert connector.calendars.update_event(store, CALENDAR_ID, CREATED_ID, MOVED) == CREATED_ID
    body = json.loads(patched.calls.last.request.content)
    # summer time in Berlin: 09:00 UTC is 11:00 local
    assert body["start"] == {"dateTime": "2026-07-10T11:00:00", "timeZone": "Europe/Berlin"}
    assert body["end"] == {"dateTime": "2026-07-10T12:30:00", "timeZone": "Europe/Berlin"}
    assert body["subject"] == "Quarterly planning"
    assert "transactionId" not in body  # Graph does not let an update change it
    assert "attendees" not in body  # Hub's own invitations tell them


def test_an_event_gone_at_graph_is_written_again(
    microsoft: respx.MockRouter, connector: Connector, store: MemoryStore
) -> None:
    gone = {"error": {"code": "ErrorItemNotFound", "message": "The specified object was not found in the store."}}
    microsoft.patch(f"{GRAPH}/me/events/{CREATED_ID}").mock(return_value=httpx.Response(404, json=gone))
    new_id = "AAMkAGI1AAAt9AHnew="
    create = microsoft.post(EVENTS).mock(
        return_value=httpx.Response(201, json={**fixture("graph_event_timed"), "id": new_id})
    )
    microsoft.get(EVENTS).mock(return_value=found((new_id, "2026-03-01T10:00:00Z")))
    assert connector.calendars.update_event(store, CALENDAR_ID, CREATED_ID, MOVED) == new_id
    assert json.loads(create.calls.last.request.content)["start"]["dateTime"] == "2026-07-10T11:00:00"
