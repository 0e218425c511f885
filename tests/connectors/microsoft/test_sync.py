"""The change feed over calendarView/delta (PROTOCOLS E, delta): a full pull over the rolling
window following nextLink to the deltaLink, an incremental pull from the deltaLink as-is, and
410 syncStateNotFound -> ResyncRequired."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import msgspec
import pytest
import respx

from connectors.microsoft.client import MicrosoftClient
from connectors.microsoft.spec import build
from connectors.microsoft.sync import MicrosoftChangeFeed
from hub.connectors import BusyChange, ChangeBatch, Connector, ProviderCalendar, ResyncRequired
from tests.connectors.microsoft.helpers import CALENDAR_ID, GRAPH, fixture, respond, settings
from tests.connectors.shared_suite.harness import MemoryStore

CALENDAR = ProviderCalendar(CALENDAR_ID, "Calendar", primary=True)
DELTA = f"{GRAPH}/me/calendars/{CALENDAR_ID}/calendarView/delta"
PAGE1, PAGE2, INCREMENTAL = (
    fixture("graph_calendarview_delta_page1"),
    fixture("graph_calendarview_delta_page2_final"),
    fixture("graph_calendarview_delta_incremental"),
)
NOW = datetime(2026, 3, 2, 10, 15, 31, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.fixture
def feed(sleeps: list[float]) -> MicrosoftChangeFeed:
    connector = build(settings(), sleep=sleeps.append)
    client: MicrosoftClient = connector.feed.client
    return MicrosoftChangeFeed(client, clock=lambda: NOW)


def busy_only(batch: ChangeBatch) -> ChangeBatch:
    """The batch without the events' read-back states: what busy times are made of."""
    return msgspec.structs.replace(batch, events=[])


def test_a_full_pull_follows_every_page_and_returns_the_delta_link(
    microsoft: respx.MockRouter, feed: MicrosoftChangeFeed, store: MemoryStore
) -> None:
    first = microsoft.get(DELTA, name="first").mock(return_value=respond("graph_calendarview_delta_page1"))
    following = microsoft.get(PAGE1["@odata.nextLink"], name="next").mock(
        return_value=respond("graph_calendarview_delta_page2_final")
    )

    batch = feed.pull(store, CALENDAR, None)

    assert [e.provider_event_id for e in batch.events] == ["AAMkAGI1AAAt9AHjAAA=", "AAMkAGI1AAAt9AHkAAA="]
    assert busy_only(batch) == ChangeBatch(
        changes=[
            BusyChange("AAMkAGI1AAAt9AHjAAA=", utc(2026, 3, 10, 9), utc(2026, 3, 10, 10)),
            BusyChange("AAMkAGI1AAAt9AHkAAA=", utc(2026, 3, 20), utc(2026, 3, 21)),
        ],
        cursor=PAGE2["@odata.deltaLink"],
        full=True,
    )
    request = first.calls.last.request
    assert dict(request.url.params) == {"startDateTime": "2026-01-31T10:15:31Z", "endDateTime": "2027-03-02T10:15:31Z"}
    assert request.headers.get_list("prefer") == ["odata.maxpagesize=100", 'outlook.timezone="UTC"']
    assert str(following.calls.last.request.url) == PAGE1["@odata.nextLink"]  # as-is
    assert following.calls.last.request.headers.get_list("prefer") == request.headers.get_list("prefer")


def test_an_incremental_pull_gets_the_delta_link_as_is(
    microsoft: respx.MockRouter, feed: MicrosoftChangeFeed, store: MemoryStore
) -> None:
    route = microsoft.get(PAGE2["@odata.deltaLink"]).mock(return_value=respond("graph_calendarview_delta_incremental"))

    batch = feed.pull(store, CALENDAR, PAGE2["@odata.deltaLink"])

    assert str(route.calls.last.request.url) == PAGE2["@odata.deltaLink"]
    # the deleted event is read back as cancelled, the moved one at its new time
    states = {e.provider_event_id: e for e in batch.events}
    assert states["AAMkAGI1AAAt9AHkAAA="].cancelled
    assert (states["AAMkAGI1AAAt9AHjAAA="].start, states["AAMkAGI1AAAt9AHjAAA="].end) == (
        utc(2026, 3, 10, 13),
        utc(2026, 3, 10, 14),
    )
    assert busy_only(batch) == ChangeBatch(
        changes=[
            BusyChange("AAMkAGI1AAAt9AHkAAA=", busy=False),  # @removed
            BusyChange("AAMkAGI1AAAt9AHjAAA=", utc(2026, 3, 10, 13), utc(2026, 3, 10, 14)),  # moved
        ],
        cursor=INCREMENTAL["@odata.deltaLink"],
        full=False,
    )


def test_an_expired_delta_link_requires_a_resync(
    microsoft: respx.MockRouter, feed: MicrosoftChangeFeed, store: MemoryStore
) -> None:
    microsoft.get(PAGE2["@odata.deltaLink"]).mock(return_value=respond("graph_error_410_sync_state_not_found", 410))
    with pytest.raises(ResyncRequired):
        feed.pull(store, CALENDAR, PAGE2["@odata.deltaLink"])


def test_empty_pages_are_followed(microsoft: respx.MockRouter, feed: MicrosoftChangeFeed, store: MemoryStore) -> None:
    empty = {"@odata.nextLink": PAGE1["@odata.nextLink"], "value": []}
    microsoft.get(DELTA).respond(json=empty)
    microsoft.get(PAGE1["@odata.nextLink"]).mock(return_value=respond("graph_calendarview_delta_page2_final"))
    batch = feed.pull(store, CALENDAR, None)
    assert busy_only(batch) == ChangeBatch(changes=[], cursor=PAGE2["@odata.deltaLink"], full=True)


def test_series_masters_are_skipped_and_occurrences_kept(
    microsoft: respx.MockRouter, feed: MicrosoftChangeFeed, store: MemoryStore
) -> None:
    master = fixture("graph_event_recurring")
    occurrence = {
        **master,
        "id": "AAMkADQwMD_occ_20260309",
        "type": "occurrence",
        "seriesMasterId": master["id"],
        "recurrence": None,
        "start": {"dateTime": "2026-03-09T08:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-03-09T08:30:00.0000000", "timeZone": "UTC"},
    }
    microsoft.get(DELTA).respond(json={"@odata.deltaLink": PAGE2["@odata.deltaLink"], "value": [master, occurrence]})
    batch = feed.pull(store, CALENDAR, None)
    assert batch.changes == [BusyChange("AAMkADQwMD_occ_20260309", utc(2026, 3, 9, 8), utc(2026, 3, 9, 8, 30))]


def test_throttling_in_the_middle_of_a_pull_is_waited_out(
    microsoft: respx.MockRouter, connector: Connector, store: MemoryStore, sleeps: list[float]
) -> None:
    microsoft.get(DELTA).mock(return_value=respond("graph_calendarview_delta_page1"))
    throttled = fixture("graph_error_429_throttled_http")
    microsoft.get(PAGE1["@odata.nextLink"]).mock(
        side_effect=[
            httpx.Response(429, headers=throttled["headers"], json=throttled["body"]),
            respond("graph_calendarview_delta_page2_final"),
        ]
    )
    assert connector.feed.pull(store, CALENDAR, None).cursor == PAGE2["@odata.deltaLink"]
    assert sleeps == [2.128]
