"""Calendars, event writes and deletes, and Google's error table (PROTOCOLS.md B, error bodies)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import msgspec
import pytest
import respx

from connectors.google.client import QUOTA_EXCEEDED_RETRY_AFTER
from connectors.google.mapping import event_id_for
from hub.connectors import Connector, OutboundEvent
from hub.errors import PermanentError, TransientError
from tests.connectors.google.helpers import API, CALENDAR_ID, EVENTS_URL, respond
from tests.connectors.shared_suite.harness import MemoryStore

BOOKING = OutboundEvent(
    booking_id="bkg_01J8ZQ4W3X5Y6Z7A8B9C0D1E2F",
    title="Intro call",
    start=datetime(2026, 3, 12, 14, 0, tzinfo=UTC),
    end=datetime(2026, 3, 12, 14, 30, tzinfo=UTC),
    timezone="Europe/Berlin",
    attendees=(("bob@example.org", None),),
)
EVENT_ID = event_id_for(BOOKING.booking_id)


def calendar_list(google: respx.MockRouter) -> respx.Route:
    return google.get(f"{API}/users/me/calendarList", name="calendars")


def test_calendars_are_listed_with_their_zones_and_roles(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    route = calendar_list(google).mock(return_value=respond("google_calendar_list"))
    calendars = connector.calendars.list_calendars(store)
    assert [(c.provider_calendar_id, c.primary, c.timezone, c.writable) for c in calendars] == [
        ("alice@example.com", True, "Europe/Berlin", True),
        ("c_9k2m4n6p8r0t2v4a6c8e0g2i4k@group.calendar.google.com", False, "Europe/London", True),
        ("en.german#holiday@group.v.calendar.google.com", False, "Europe/Berlin", False),
    ]
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {store.credentials['access_token']}"
    assert store.saved == []  # a valid token is not refreshed


def test_calendar_list_pages_are_followed(connector: Connector, google: respx.MockRouter, store: MemoryStore) -> None:
    full = json.loads(respond("google_calendar_list").content)
    first = {**full, "items": full["items"][:1], "nextPageToken": "page2"}
    del first["nextSyncToken"]
    route = calendar_list(google).mock(
        side_effect=[httpx.Response(200, json=first), httpx.Response(200, json={**full, "items": full["items"][1:]})]
    )
    assert len(connector.calendars.list_calendars(store)) == 3
    assert "pageToken" not in route.calls[0].request.url.params
    assert route.calls[1].request.url.params["pageToken"] == "page2"


def test_a_booking_is_inserted_with_its_derived_id(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    insert = google.post(EVENTS_URL, name="insert").mock(
        side_effect=lambda request: httpx.Response(200, json={**json.loads(request.content), "status": "confirmed"})
    )
    assert connector.calendars.write_event(store, CALENDAR_ID, BOOKING) == EVENT_ID
    request = insert.calls.last.request
    assert request.url.raw_path.startswith(b"/calendar/v3/calendars/alice%40example.com/events")
    assert request.url.params["sendUpdates"] == "none"  # Hub sends its own invitations
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content)["id"] == EVENT_ID


def test_attendees_are_notified_by_google_only_when_asked(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    insert = google.post(EVENTS_URL, name="insert").mock(return_value=httpx.Response(200, json={"id": EVENT_ID}))
    connector.calendars.write_event(store, CALENDAR_ID, msgspec.structs.replace(BOOKING, notify_attendees=True))
    assert insert.calls.last.request.url.params["sendUpdates"] == "all"


def test_a_duplicate_insert_means_the_booking_is_already_written(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    insert = google.post(EVENTS_URL, name="insert").mock(
        side_effect=[httpx.Response(200, json={"id": EVENT_ID}), respond("google_error_409_duplicate", 409)]
    )
    first = connector.calendars.write_event(store, CALENDAR_ID, BOOKING)
    again = connector.calendars.write_event(store, CALENDAR_ID, BOOKING)
    assert first == again == EVENT_ID
    assert insert.call_count == 2
    assert [json.loads(call.request.content)["id"] for call in insert.calls] == [EVENT_ID, EVENT_ID]


def test_writing_to_a_calendar_that_is_gone_is_permanent(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    google.post(EVENTS_URL, name="insert").mock(return_value=httpx.Response(404, json={"error": {"code": 404}}))
    with pytest.raises(PermanentError) as raised:
        connector.calendars.write_event(store, CALENDAR_ID, BOOKING)
    assert raised.value.code == "calendar_not_found"


def test_an_event_is_deleted(connector: Connector, google: respx.MockRouter, store: MemoryStore) -> None:
    delete = google.delete(f"{EVENTS_URL}/{EVENT_ID}", name="delete").mock(return_value=httpx.Response(204))
    connector.calendars.delete_event(store, CALENDAR_ID, EVENT_ID)
    assert delete.calls.last.request.url.params["sendUpdates"] == "none"


@pytest.mark.parametrize(
    "gone",
    [
        respond("google_error_410_deleted", 410),
        httpx.Response(404, json={"error": {"errors": [{"reason": "notFound"}], "code": 404, "message": "Not Found"}}),
    ],
    ids=["410-deleted", "404-not-found"],
)
def test_deleting_an_event_that_is_already_gone_is_fine(
    connector: Connector, google: respx.MockRouter, store: MemoryStore, gone: httpx.Response
) -> None:
    delete = google.delete(f"{EVENTS_URL}/{EVENT_ID}", name="delete").mock(return_value=gone)
    connector.calendars.delete_event(store, CALENDAR_ID, EVENT_ID)
    assert delete.call_count == 1


@pytest.mark.parametrize(
    "fixture_name", ["google_error_403_rate_limit_exceeded", "google_error_403_user_rate_limit_exceeded"]
)
def test_a_403_rate_limit_is_transient_and_recovers(
    connector: Connector, google: respx.MockRouter, store: MemoryStore, sleeps: list[float], fixture_name: str
) -> None:
    route = calendar_list(google).mock(side_effect=[respond(fixture_name, 403), respond("google_calendar_list")])
    assert len(connector.calendars.list_calendars(store)) == 3
    assert route.call_count == 2
    assert len(sleeps) == 1
    assert 0 < sleeps[0] <= 8  # exponential backoff with jitter (hub.http)


def test_a_429_waits_as_long_as_retry_after_says(
    connector: Connector, google: respx.MockRouter, store: MemoryStore, sleeps: list[float]
) -> None:
    route = calendar_list(google).mock(
        side_effect=[
            respond("google_error_429_rate_limit_exceeded", 429, {"Retry-After": "7"}),
            respond("google_calendar_list"),
        ]
    )
    assert len(connector.calendars.list_calendars(store)) == 3
    assert route.call_count == 2
    assert sleeps == [7.0]


def test_quota_exceeded_is_transient_but_not_retried_within_the_job(
    connector: Connector, google: respx.MockRouter, store: MemoryStore, sleeps: list[float]
) -> None:
    route = calendar_list(google).mock(return_value=respond("google_error_403_quota_exceeded", 403))
    with pytest.raises(TransientError) as raised:
        connector.calendars.list_calendars(store)
    assert (raised.value.code, raised.value.provider_code) == ("quota_exceeded", "quotaExceeded")
    assert raised.value.retry_after == QUOTA_EXCEEDED_RETRY_AFTER
    assert route.call_count == 1
    assert sleeps == []


def test_another_403_is_a_permanent_forbidden(
    connector: Connector, google: respx.MockRouter, store: MemoryStore, sleeps: list[float]
) -> None:
    forbidden = {
        "error": {
            "errors": [{"domain": "calendar", "reason": "requiredAccessLevel", "message": "You need writer access"}],
            "code": 403,
            "message": "You need writer access",
        }
    }
    google.post(EVENTS_URL, name="insert").mock(return_value=httpx.Response(403, json=forbidden))
    with pytest.raises(PermanentError) as raised:
        connector.calendars.write_event(store, CALENDAR_ID, BOOKING)
    assert raised.value.code == "permission_denied"
    assert sleeps == []


@pytest.mark.parametrize(
    ("fixture_name", "status"), [("google_error_500_backend_error", 500), ("google_error_503_backend_error", 503)]
)
def test_backend_errors_are_retried_then_left_to_the_queue(
    connector: Connector,
    google: respx.MockRouter,
    store: MemoryStore,
    sleeps: list[float],
    fixture_name: str,
    status: int,
) -> None:
    route = calendar_list(google).mock(return_value=respond(fixture_name, status))
    with pytest.raises(TransientError):
        connector.calendars.list_calendars(store)
    assert route.call_count == 4  # hub.http.call_with_retries: four attempts
    assert len(sleeps) == 3


def test_a_timeout_is_transient(
    connector: Connector, google: respx.MockRouter, store: MemoryStore, sleeps: list[float]
) -> None:
    route = calendar_list(google).mock(side_effect=[httpx.ReadTimeout("slow"), respond("google_calendar_list")])
    assert len(connector.calendars.list_calendars(store)) == 3
    assert route.call_count == 2
    assert len(sleeps) == 1


def test_error_reasons_not_messages_decide(connector: Connector, google: respx.MockRouter, store: MemoryStore) -> None:
    # Same message as a rate limit, other reason: permanent. Branch on errors[0].reason only.
    body = {
        "error": {"errors": [{"reason": "forbiddenForNonOrganizer", "message": "Rate Limit Exceeded"}], "code": 403}
    }
    calendar_list(google).mock(return_value=httpx.Response(403, json=body))
    with pytest.raises(PermanentError) as raised:
        connector.calendars.list_calendars(store)
    assert raised.value.code == "permission_denied"


# --- events.patch: a moved booking ---------------------------------------------------------------

MOVED = msgspec.structs.replace(
    BOOKING, start=datetime(2026, 3, 12, 16, 0, tzinfo=UTC), end=datetime(2026, 3, 12, 17, 0, tzinfo=UTC)
)


def test_a_moved_booking_is_patched_in_place_with_the_fields_hub_owns(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    patched = google.patch(f"{EVENTS_URL}/{EVENT_ID}", name="patch").mock(
        side_effect=lambda request: httpx.Response(
            200, json={"kind": "calendar#event", "id": EVENT_ID, "status": "confirmed", **json.loads(request.content)}
        )
    )
    assert connector.calendars.update_event(store, CALENDAR_ID, EVENT_ID, MOVED) == EVENT_ID
    request = patched.calls.last.request
    assert request.url.raw_path.startswith(f"/calendar/v3/calendars/alice%40example.com/events/{EVENT_ID}".encode())
    assert request.url.params["sendUpdates"] == "none"
    body = json.loads(request.content)
    assert body == {
        "summary": "Intro call",
        "description": None,
        "start": {"dateTime": "2026-03-12T17:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-03-12T18:00:00+01:00", "timeZone": "Europe/Berlin"},
        "attendees": [{"email": "bob@example.org"}],
    }
    assert "id" not in body
    assert "extendedProperties" not in body  # left as written


@pytest.mark.parametrize(("status", "name"), [(404, None), (410, "google_error_410_deleted")])
def test_an_event_gone_at_google_is_written_again_under_the_bookings_id(
    connector: Connector, google: respx.MockRouter, store: MemoryStore, status: int, name: str | None
) -> None:
    gone = respond(name, status) if name else httpx.Response(404, json={"error": {"code": 404, "message": "Not Found"}})
    google.patch(f"{EVENTS_URL}/{EVENT_ID}", name="patch").mock(return_value=gone)
    insert = google.post(EVENTS_URL, name="insert").mock(
        side_effect=lambda request: httpx.Response(200, json={**json.loads(request.content), "status": "confirmed"})
    )
    assert connector.calendars.update_event(store, CALENDAR_ID, EVENT_ID, MOVED) == EVENT_ID
    written = json.loads(insert.calls.last.request.content)
    assert (written["id"], written["start"]["dateTime"]) == (EVENT_ID, "2026-03-12T17:00:00+01:00")


def test_an_id_taken_by_a_deleted_event_answers_duplicate_and_keeps_the_id(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    google.patch(f"{EVENTS_URL}/{EVENT_ID}", name="patch").mock(return_value=respond("google_error_410_deleted", 410))
    insert = google.post(EVENTS_URL, name="insert").mock(return_value=respond("google_error_409_duplicate", 409))
    assert connector.calendars.update_event(store, CALENDAR_ID, EVENT_ID, MOVED) == EVENT_ID
    assert insert.call_count == 1


def test_a_patch_refused_for_good_is_raised(connector: Connector, google: respx.MockRouter, store: MemoryStore) -> None:
    google.patch(f"{EVENTS_URL}/{EVENT_ID}", name="patch").mock(
        return_value=respond("google_error_403_quota_exceeded", 403)
    )
    with pytest.raises(TransientError):
        connector.calendars.update_event(store, CALENDAR_ID, EVENT_ID, MOVED)
