"""Google Meet on a booking's event and reading the event back (Event resource: ``conferenceData``,
``hangoutLink``, ``attendees[].responseStatus``): the insert asks for a Meet conference with
``conferenceDataVersion=1`` and a ``createRequest`` whose ``requestId`` comes from the booking;
Google answers the request ``pending`` and later ``success`` with a ``video`` entry point."""

from __future__ import annotations

import json
from typing import Any

import httpx
import msgspec
import respx

from connectors.google.mapping import conference_request_id, event_id_for
from hub.connectors import ConferenceState, Connector, EventReader, ProviderCalendar
from tests.connectors.google.helpers import API, CALENDAR_ID, EVENTS_URL, fixture, respond
from tests.connectors.google.test_calendar import BOOKING
from tests.connectors.shared_suite.harness import MemoryStore

MEET = msgspec.structs.replace(BOOKING, conference="google_meet")
EVENT_ID = event_id_for(BOOKING.booking_id)
READ_ID = fixture("google_event_conference_success")["id"]
READ_URL = f"{EVENTS_URL}/{READ_ID}"


def inserted(request: httpx.Request) -> httpx.Response:
    """``events.insert`` answering a Meet request ``pending`` (google_event_conference_pending.json)."""
    body = json.loads(request.content)
    answer = {**fixture("google_event_conference_pending"), "id": body["id"]}
    if "conferenceData" not in body:
        del answer["conferenceData"]
    return httpx.Response(200, json=answer)


def reader(connector: Connector) -> EventReader:
    calendars: object = connector.calendars
    assert isinstance(calendars, EventReader)
    return calendars


def read(connector: Connector, store: MemoryStore, google: respx.MockRouter, answer: dict[str, Any]) -> Any:
    google.get(READ_URL, name="get").mock(return_value=httpx.Response(200, json=answer))
    return reader(connector).read_event(store, CALENDAR_ID, READ_ID)


def test_a_meet_booking_is_inserted_with_a_create_request_and_conference_data_version_1(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    insert = google.post(EVENTS_URL, name="insert").mock(side_effect=inserted)
    assert connector.calendars.write_event(store, CALENDAR_ID, MEET) == EVENT_ID
    request = insert.calls.last.request
    assert request.url.params["conferenceDataVersion"] == "1"  # 0 would ignore conferenceData
    assert json.loads(request.content)["conferenceData"] == {
        "createRequest": {
            "requestId": conference_request_id(BOOKING.booking_id),
            "conferenceSolutionKey": {"type": "hangoutsMeet"},
        }
    }


def test_the_request_id_is_the_bookings_own() -> None:
    request_id = conference_request_id(BOOKING.booking_id)
    assert request_id == conference_request_id(BOOKING.booking_id)
    assert request_id != conference_request_id("bkg_01J8ZQ4W3X5Y6Z7A8B9C0D1E2G")
    assert BOOKING.booking_id not in request_id  # a digest: the booking id is not shown to Google


def test_a_retried_insert_asks_with_the_same_request_id(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    held: list[str] = []

    def insert_once(request: httpx.Request) -> httpx.Response:
        if held:  # the event id is taken: Google's answer to a repeated insert
            return respond("google_error_409_duplicate", 409)
        held.append(json.loads(request.content)["id"])
        return inserted(request)

    insert = google.post(EVENTS_URL, name="insert").mock(side_effect=insert_once)
    first = connector.calendars.write_event(store, CALENDAR_ID, MEET)
    again = connector.calendars.write_event(store, CALENDAR_ID, MEET)
    assert first == again == EVENT_ID
    asked = [json.loads(call.request.content)["conferenceData"]["createRequest"] for call in insert.calls]
    assert len(asked) == 2
    assert asked[0] == asked[1], "the same requestId: Google makes no second conference"


def test_a_booking_without_a_conference_asks_for_none(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    insert = google.post(EVENTS_URL, name="insert").mock(side_effect=inserted)
    connector.calendars.write_event(store, CALENDAR_ID, BOOKING)
    request = insert.calls.last.request
    assert request.url.params["conferenceDataVersion"] == "0"
    assert "conferenceData" not in json.loads(request.content)


def test_a_move_sends_no_conference_data_so_the_event_keeps_its_meet(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    patched = google.patch(f"{EVENTS_URL}/{EVENT_ID}", name="patch").mock(
        return_value=respond("google_event_conference_success")
    )
    connector.calendars.update_event(store, CALENDAR_ID, EVENT_ID, MEET)
    request = patched.calls.last.request
    assert "conferenceData" not in json.loads(request.content)
    assert "conferenceDataVersion" not in request.url.params


def test_a_pending_create_request_reads_back_pending_then_ready_with_the_video_entry_point(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    route = google.get(READ_URL, name="get").mock(
        side_effect=[respond("google_event_conference_pending"), respond("google_event_conference_success")]
    )
    first = reader(connector).read_event(store, CALENDAR_ID, READ_ID)
    assert first is not None
    assert first.conference == ConferenceState(kind="google_meet", status="pending")
    then = reader(connector).read_event(store, CALENDAR_ID, READ_ID)
    assert then is not None
    assert then.conference == ConferenceState(
        kind="google_meet", status="ready", join_url="https://meet.google.com/abc-defg-hij"
    )
    assert route.call_count == 2


def test_the_video_entry_point_wins_over_the_hangout_link(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    answer = fixture("google_event_conference_success")
    answer["hangoutLink"] = "https://meet.google.com/zzz-zzzz-zzz"
    state = read(connector, store, google, answer)
    assert state.conference.join_url == "https://meet.google.com/abc-defg-hij"


def test_without_a_video_entry_point_the_hangout_link_is_the_join_link(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    answer = fixture("google_event_conference_success")
    points = answer["conferenceData"]["entryPoints"]
    answer["conferenceData"]["entryPoints"] = [p for p in points if p["entryPointType"] != "video"]
    state = read(connector, store, google, answer)
    assert state.conference == ConferenceState(
        kind="google_meet", status="ready", join_url="https://meet.google.com/abc-defg-hij"
    )
    del answer["conferenceData"]  # an event carrying the link alone
    assert read(connector, store, google, answer).conference.join_url == "https://meet.google.com/abc-defg-hij"


def test_a_failed_create_request_reads_back_failed(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    answer = fixture("google_event_conference_pending")
    answer["conferenceData"]["createRequest"]["status"] = {"statusCode": "failure"}
    del answer["conferenceData"]["conferenceSolution"]  # "Unset for a conference with a failed create request"
    state = read(connector, store, google, answer)
    assert (state.conference.kind, state.conference.status, state.conference.join_url) == (
        "google_meet",
        "failed",
        None,
    )
    assert state.conference.error


def test_an_event_without_a_conference_reads_back_without_one(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    answer = fixture("google_event_conference_success")
    del answer["conferenceData"], answer["hangoutLink"]
    assert read(connector, store, google, answer).conference is None


def test_every_response_status_maps_to_hubs_answer_and_the_owner_is_left_out(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    state = read(connector, store, google, fixture("google_event_conference_success"))
    assert state.attendees == (
        ("bob@example.org", "needs_action"),
        ("carol@example.org", "accepted"),
        ("dave@example.org", "declined"),
        ("erin@example.org", "tentative"),
    )


def test_the_times_read_back_in_utc(connector: Connector, google: respx.MockRouter, store: MemoryStore) -> None:
    state = read(connector, store, google, fixture("google_event_conference_success"))
    assert (state.start, state.end) == (BOOKING.start, BOOKING.end)
    assert state.cancelled is False


def test_a_cancelled_event_reads_back_cancelled_and_a_deleted_one_as_gone(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    answer = {**fixture("google_event_conference_success"), "status": "cancelled"}
    state = read(connector, store, google, answer)
    assert state.cancelled is True
    google.get(READ_URL, name="get").mock(return_value=respond("google_error_410_deleted", 410))
    assert reader(connector).read_event(store, CALENDAR_ID, READ_ID) is None


def test_the_calendar_list_reports_meet_where_google_allows_it(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    listing = fixture("google_calendar_list")
    listing["items"][1]["conferenceProperties"]["allowedConferenceSolutionTypes"] = ["eventNamedHangout"]
    del listing["items"][2]["conferenceProperties"]
    google.get(f"{API}/users/me/calendarList", name="calendars").mock(return_value=httpx.Response(200, json=listing))
    calendars: list[ProviderCalendar] = connector.calendars.list_calendars(store)
    assert [c.conferencing for c in calendars] == [("google_meet",), (), ()]
