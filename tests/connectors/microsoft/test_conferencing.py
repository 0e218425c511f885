"""Teams meetings on a booking's event and reading the event back (Graph "Create or set an event
as an online meeting": ``allowedOnlineMeetingProviders`` on the calendar, ``isOnlineMeeting`` with
``onlineMeetingProvider: teamsForBusiness`` on the create, ``onlineMeeting.joinUrl`` on the
event; the attendee's ``status.response``)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import msgspec
import respx

from hub.connectors import ConferenceState, Connector, EventReader, OutboundEvent, ProviderCalendar
from tests.connectors.microsoft.helpers import CALENDAR_ID, GRAPH, fixture, respond
from tests.connectors.microsoft.test_calendar import BOOKING, CREATED_ID, EVENTS, found
from tests.connectors.shared_suite.harness import MemoryStore

TEAMS = msgspec.structs.replace(BOOKING, conference="teams")
ONLINE = fixture("graph_event_online_meeting")
READ_URL = f"{GRAPH}/me/events/{ONLINE['id']}"


def reader(connector: Connector) -> EventReader:
    calendars: object = connector.calendars
    assert isinstance(calendars, EventReader)
    return calendars


def created_body(microsoft: respx.MockRouter, connector: Connector, store: MemoryStore, event: OutboundEvent) -> Any:
    create = microsoft.post(EVENTS, name="create").mock(return_value=respond("graph_event_online_meeting", 201))
    microsoft.get(EVENTS, name="lookup").mock(return_value=found((CREATED_ID, "2026-03-02T10:15:30Z")))
    assert connector.calendars.write_event(store, CALENDAR_ID, event) == CREATED_ID
    return json.loads(create.calls.last.request.content)


def read(microsoft: respx.MockRouter, connector: Connector, store: MemoryStore, answer: dict[str, Any]) -> Any:
    route = microsoft.get(READ_URL, name="get").mock(return_value=httpx.Response(200, json=answer))
    state = reader(connector).read_event(store, CALENDAR_ID, ONLINE["id"])
    request = route.calls.last.request
    assert request.headers["prefer"] == 'outlook.timezone="UTC"'
    assert {"isOnlineMeeting", "onlineMeeting", "attendees", "isCancelled"} <= set(
        request.url.params["$select"].split(",")
    )
    return state


def test_a_teams_booking_is_created_as_a_teams_online_meeting(
    microsoft: respx.MockRouter, connector: Connector, store: MemoryStore
) -> None:
    body = created_body(microsoft, connector, store, TEAMS)
    assert (body["isOnlineMeeting"], body["onlineMeetingProvider"]) == (True, "teamsForBusiness")


def test_a_booking_without_a_conference_asks_graph_for_none(
    microsoft: respx.MockRouter, connector: Connector, store: MemoryStore
) -> None:
    body = created_body(microsoft, connector, store, BOOKING)
    assert body["isOnlineMeeting"] is False
    assert "onlineMeetingProvider" not in body


def test_a_move_leaves_the_meeting_and_its_join_details_alone(
    microsoft: respx.MockRouter, connector: Connector, store: MemoryStore
) -> None:
    patched = microsoft.patch(READ_URL, name="patch").mock(return_value=respond("graph_event_online_meeting"))
    connector.calendars.update_event(store, CALENDAR_ID, ONLINE["id"], TEAMS)
    body = json.loads(patched.calls.last.request.content)
    assert not {"isOnlineMeeting", "onlineMeetingProvider", "onlineMeeting", "body"} & set(body)


def test_a_calendar_offers_teams_only_where_graph_allows_it(
    microsoft: respx.MockRouter, connector: Connector, store: MemoryStore
) -> None:
    allowing = fixture("graph_calendar_online_meetings")
    allowing.pop("@odata.context")
    skype_only = {**allowing, "id": "AAMkAGI2TG95AAA=", "allowedOnlineMeetingProviders": ["skypeForBusiness"]}
    none = {**allowing, "id": "AAMkAGI2TG96AAA=", "allowedOnlineMeetingProviders": ["unknown"]}
    silent = {"id": "AAMkAGI2TG97AAA=", "name": "Old", "canEdit": True}  # no such property at all
    microsoft.get(f"{GRAPH}/me/calendars").respond(json={"value": [allowing, skype_only, none, silent]})
    calendars: list[ProviderCalendar] = connector.calendars.list_calendars(store)
    assert [(c.provider_calendar_id, c.conferencing) for c in calendars] == [
        (allowing["id"], ("teams",)),
        ("AAMkAGI2TG95AAA=", ()),
        ("AAMkAGI2TG96AAA=", ()),
        ("AAMkAGI2TG97AAA=", ()),
    ]


def test_the_join_url_reads_back_as_a_ready_teams_conference(
    microsoft: respx.MockRouter, connector: Connector, store: MemoryStore
) -> None:
    state = read(microsoft, connector, store, ONLINE)
    assert state.conference == ConferenceState(
        kind="teams", status="ready", join_url=ONLINE["onlineMeeting"]["joinUrl"]
    )


def test_an_online_meeting_without_its_join_url_yet_is_pending(
    microsoft: respx.MockRouter, connector: Connector, store: MemoryStore
) -> None:
    state = read(microsoft, connector, store, {**ONLINE, "onlineMeeting": None})
    assert state.conference == ConferenceState(kind="teams", status="pending")


def test_an_event_that_is_no_online_meeting_has_no_conference(
    microsoft: respx.MockRouter, connector: Connector, store: MemoryStore
) -> None:
    state = read(microsoft, connector, store, fixture("graph_event_timed"))  # onlineMeetingProvider: unknown
    assert state.conference is None


def test_every_status_response_maps_to_hubs_answer_and_the_organizer_is_left_out(
    microsoft: respx.MockRouter, connector: Connector, store: MemoryStore
) -> None:
    state = read(microsoft, connector, store, ONLINE)
    assert state.attendees == (
        ("bob@example.org", "needs_action"),  # none
        ("carol@example.org", "needs_action"),  # notResponded
        ("dave@example.org", "accepted"),
        ("erin@example.org", "declined"),
        ("frank@example.org", "tentative"),  # tentativelyAccepted
    )


def test_the_times_read_back_in_utc(microsoft: respx.MockRouter, connector: Connector, store: MemoryStore) -> None:
    utc = {
        **ONLINE,
        "start": {"dateTime": "2026-03-10T09:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-03-10T10:00:00.0000000", "timeZone": "UTC"},
    }
    state = read(microsoft, connector, store, utc)
    assert (state.start, state.end, state.cancelled) == (BOOKING.start, BOOKING.end, False)


def test_a_cancelled_event_reads_back_cancelled_and_a_deleted_one_as_gone(
    microsoft: respx.MockRouter, connector: Connector, store: MemoryStore
) -> None:
    assert read(microsoft, connector, store, {**ONLINE, "isCancelled": True}).cancelled is True
    gone = {"error": {"code": "ErrorItemNotFound", "message": "The specified object was not found in the store."}}
    microsoft.get(READ_URL, name="get").mock(return_value=httpx.Response(404, json=gone))
    assert reader(connector).read_event(store, CALENDAR_ID, ONLINE["id"]) is None
