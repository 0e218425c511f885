"""The change feed (PROTOCOLS.md B): full sync over two pages, incremental sync with deletions,
and 410 on an expired sync token."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
import respx

from hub.connectors import BusyChange, Connector, ProviderCalendar, ResyncRequired
from hub.errors import TransientError
from tests.connectors.google.helpers import CALENDAR_ID, EVENTS_URL, fixture, respond
from tests.connectors.shared_suite.harness import MemoryStore

CALENDAR = ProviderCalendar(CALENDAR_ID, "alice@example.com", primary=True, timezone="Europe/Berlin")
PAGE1 = fixture("google_events_list_full_sync_page1")
PAGE2 = fixture("google_events_list_full_sync_page2_last")
INCREMENTAL = fixture("google_events_list_incremental")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_a_full_sync_follows_every_page_and_returns_the_sync_token(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    route = google.get(EVENTS_URL, name="events").mock(
        side_effect=[respond("google_events_list_full_sync_page1"), respond("google_events_list_full_sync_page2_last")]
    )
    batch = connector.feed.pull(store, CALENDAR, None)

    assert batch.full
    assert batch.cursor == PAGE2["nextSyncToken"]
    assert batch.changes == [
        BusyChange("5f0p3s1nq2r7ab8cd9ef0gh1ij", utc(2026, 3, 10, 9), utc(2026, 3, 10, 10)),
        BusyChange("7cbh8rpc10lrc0ckih9tafss99", utc(2026, 3, 2, 8), utc(2026, 3, 2, 8, 30)),
    ]
    first, second = (dict(call.request.url.params) for call in route.calls)
    assert first == {"singleEvents": "true", "maxResults": "2500"}  # no timeMin/timeMax, no syncToken
    assert second == {**first, "pageToken": PAGE1["nextPageToken"]}


def test_a_full_sync_maps_every_kind_of_event(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    # Page 1 as documented plus instances, an all-day day, a free, a declined and a cancelled event.
    timed = PAGE1["items"][0]
    extra = [
        {**timed, "id": "instance0_20260309T080000Z", "recurringEventId": "7cbh8rpc10lrc0ckih9tafss99",
         "start": {"dateTime": "2026-03-09T09:00:00+01:00"}, "end": {"dateTime": "2026-03-09T09:30:00+01:00"}},
        {**timed, "id": "allday0busy", "start": {"date": "2026-03-20"}, "end": {"date": "2026-03-21"}},
        {**timed, "id": "free0event", "transparency": "transparent"},
        {**timed, "id": "declined0event",
         "attendees": [{"email": "alice@example.com", "self": True, "responseStatus": "declined"}]},
        {"kind": "calendar#event", "id": "cancelled0event", "status": "cancelled"},
    ]  # fmt: skip
    google.get(EVENTS_URL, name="events").mock(
        side_effect=[
            httpx.Response(200, json={**PAGE1, "items": PAGE1["items"] + extra}),
            respond("google_events_list_full_sync_page2_last"),
        ]
    )
    changes = {change.provider_event_id: change for change in connector.feed.pull(store, CALENDAR, None).changes}
    assert changes["instance0_20260309T080000Z"] == BusyChange(
        "instance0_20260309T080000Z", utc(2026, 3, 9, 8), utc(2026, 3, 9, 8, 30)
    )
    assert changes["allday0busy"] == BusyChange("allday0busy", utc(2026, 3, 19, 23), utc(2026, 3, 20, 23))
    for removed in ("free0event", "declined0event", "cancelled0event"):
        assert changes[removed] == BusyChange(removed, busy=False)


def test_all_day_events_use_the_list_zone_when_the_calendar_has_none(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    allday = {"id": "allday0busy", "start": {"date": "2026-03-20"}, "end": {"date": "2026-03-21"}}
    google.get(EVENTS_URL, name="events").mock(return_value=httpx.Response(200, json={**PAGE2, "items": [allday]}))
    no_zone = ProviderCalendar(CALENDAR_ID, "alice@example.com")
    (change,) = connector.feed.pull(store, no_zone, None).changes
    assert change.start == utc(2026, 3, 19, 23)  # the list's "timeZone": "Europe/Berlin"


def test_an_incremental_sync_sends_the_token_and_returns_changes_and_deletions(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    route = google.get(EVENTS_URL, name="events").mock(return_value=respond("google_events_list_incremental"))
    batch = connector.feed.pull(store, CALENDAR, PAGE2["nextSyncToken"])

    assert not batch.full
    assert batch.cursor == INCREMENTAL["nextSyncToken"]
    assert batch.changes == [
        BusyChange("2k4m6o8q0s2u4a6c8e0g2i4k6m", busy=False),  # all-day, but transparent
        BusyChange("5f0p3s1nq2r7ab8cd9ef0gh1ij", utc(2026, 3, 10, 13), utc(2026, 3, 10, 14)),  # rescheduled
        BusyChange("7cbh8rpc10lrc0ckih9tafss99", utc(2026, 3, 2, 8), utc(2026, 3, 2, 8, 30)),
        BusyChange("0v9u8t7s6r5q4p3o2n1m0l9k8j", busy=False),  # deleted
        BusyChange("7cbh8rpc10lrc0ckih9tafss99_20260316T080000Z", busy=False),  # cancelled instance
    ]
    assert dict(route.calls.last.request.url.params) == {
        "singleEvents": "true",
        "maxResults": "2500",
        "syncToken": PAGE2["nextSyncToken"],
        "showDeleted": "true",
    }


def test_an_incremental_sync_follows_pages_with_the_same_token(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    first = {**INCREMENTAL, "items": INCREMENTAL["items"][:2], "nextPageToken": "CiAKGjBpNDd2Nmp2Zml2cXRwYjBpOXA"}
    del first["nextSyncToken"]
    route = google.get(EVENTS_URL, name="events").mock(
        side_effect=[
            httpx.Response(200, json=first),
            httpx.Response(200, json={**INCREMENTAL, "items": INCREMENTAL["items"][2:]}),
        ]
    )
    batch = connector.feed.pull(store, CALENDAR, PAGE2["nextSyncToken"])
    assert len(batch.changes) == 5
    assert batch.cursor == INCREMENTAL["nextSyncToken"]
    assert route.calls[1].request.url.params["syncToken"] == PAGE2["nextSyncToken"]
    assert route.calls[1].request.url.params["pageToken"] == "CiAKGjBpNDd2Nmp2Zml2cXRwYjBpOXA"


def test_an_expired_sync_token_requires_a_full_resync(
    connector: Connector, google: respx.MockRouter, store: MemoryStore, sleeps: list[float]
) -> None:
    route = google.get(EVENTS_URL, name="events").mock(return_value=respond("google_error_410_full_sync_required", 410))
    with pytest.raises(ResyncRequired):
        connector.feed.pull(store, CALENDAR, "an-old-token")
    assert route.call_count == 1
    assert sleeps == []


def test_any_410_on_a_sync_token_request_requires_a_full_resync(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    google.get(EVENTS_URL, name="events").mock(return_value=httpx.Response(410, json={"error": {"code": 410}}))
    with pytest.raises(ResyncRequired):
        connector.feed.pull(store, CALENDAR, "an-old-token")


def test_a_listing_that_never_gives_a_sync_token_is_not_stored(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    page = {key: value for key, value in PAGE2.items() if key != "nextSyncToken"}
    google.get(EVENTS_URL, name="events").mock(return_value=httpx.Response(200, json=page))
    with pytest.raises(TransientError) as raised:
        connector.feed.pull(store, CALENDAR, None)
    assert raised.value.code == "provider_bad_response"
    assert "nextSyncToken" in raised.value.message
