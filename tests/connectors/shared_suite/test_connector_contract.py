"""The connector contract, run against every harness in ``harnesses.HARNESSES``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
import respx

from hub.connectors import (
    ATTENDEE_RESPONSES,
    CALENDAR_PROVIDERS,
    REGISTRY,
    CalendarOperations,
    ChangeFeed,
    ConferenceKind,
    ConferenceState,
    Connector,
    EventReader,
    EventState,
    OAuthLinker,
    OutboundEvent,
    PasswordLinker,
    PushChannels,
    WebhookAnswer,
    spec,
)
from hub.errors import ReauthRequired
from hub.settings import Settings
from tests.connectors.shared_suite.harness import ErrorCase, Harness, Holdings, MemoryStore, Mocks
from tests.connectors.shared_suite.harnesses import HARNESSES

PROTOCOLS = {
    "oauth": OAuthLinker,
    "password": PasswordLinker,
    "calendars": CalendarOperations,
    "change_feed": ChangeFeed,
    "push": PushChannels,
}
PARTS = {"oauth": "oauth", "password": "password", "calendars": "calendars", "change_feed": "feed", "push": "push"}


@dataclass
class World:
    harness: Harness
    settings: Settings
    connector: Connector
    mocks: Mocks
    sleeps: list[float]

    def store(self) -> MemoryStore:
        return MemoryStore(self.harness.credentials())

    @property
    def held(self) -> Holdings:
        return self.mocks.held()

    def events(self) -> dict[str, Any]:
        return self.held.events()

    def key(self, provider_event_id: str) -> str:
        return self.held.key(provider_event_id)


def make_world(harness: Harness) -> World:
    settings = harness.settings(Settings())
    sleeps: list[float] = []
    router = respx.Router(assert_all_mocked=True, assert_all_called=False)
    mocks = harness.install(router, settings)
    connector = harness.build(settings, sleep=sleeps.append, transport=httpx.MockTransport(router.handler))
    return World(harness, settings, connector, mocks, sleeps)


@pytest.fixture(params=HARNESSES, ids=lambda harness: harness.slug)
def world(request: pytest.FixtureRequest) -> World:
    return make_world(request.param)


def booking() -> OutboundEvent:
    start = datetime(2026, 3, 12, 14, 0, tzinfo=UTC)
    return OutboundEvent(
        booking_id="bkg_01J8ZQ4W3X5Y6Z7A8B9C0D1E2F",
        title="Intro call",
        start=start,
        end=start + timedelta(minutes=30),
        timezone="Europe/Berlin",
        attendees=(("bob@example.org", "Bob Example"),),
    )


def test_every_registered_calendar_provider_has_a_harness() -> None:
    covered = {harness.slug for harness in HARNESSES}
    registered = {slug for slug in REGISTRY if slug in CALENDAR_PROVIDERS}
    assert registered <= covered, f"add a contract harness for {sorted(registered - covered)}"


def test_declared_capabilities_are_implemented(world: World) -> None:
    declared = spec(world.harness.slug).capabilities
    assert declared, "a calendar connector declares what it supports"
    for capability in declared:
        part = getattr(world.connector, PARTS[capability])
        assert isinstance(part, PROTOCOLS[capability]), f"{capability} is declared but not implemented"


def test_writing_one_booking_twice_makes_one_event_with_one_id(world: World) -> None:
    store = world.store()
    calendar = world.harness.calendar.provider_calendar_id
    first = world.connector.calendars.write_event(store, calendar, booking())
    again = world.connector.calendars.write_event(store, calendar, booking())
    assert first == again
    assert list(world.events()) == [world.key(first)]
    assert world.mocks.create_event.call_count == 2  # the retry reached the provider and was deduplicated


def moved() -> OutboundEvent:
    """``booking()`` two hours later and longer, with another attendee."""
    return msgspec.structs.replace(
        booking(),
        start=datetime(2026, 3, 12, 16, 0, tzinfo=UTC),
        end=datetime(2026, 3, 12, 17, 0, tzinfo=UTC),
        attendees=(("carol@example.org", "Carol Example"),),
    )


def wall_clock(stored: dict[str, Any], name: str) -> str:
    """The event's ``start``/``end`` as the provider stores it, wall clock only (Europe/Berlin)."""
    return str(stored[name]["dateTime"])[:19]


def test_updating_an_event_moves_it_in_place(world: World) -> None:
    store = world.store()
    calendar = world.harness.calendar.provider_calendar_id
    event_id = world.connector.calendars.write_event(store, calendar, booking())
    updated = world.connector.calendars.update_event(store, calendar, event_id, moved())
    assert world.key(updated) == world.key(event_id), "the same event, moved"
    assert list(world.events()) == [world.key(event_id)]
    stored = world.events()[world.key(event_id)]
    assert (wall_clock(stored, "start"), wall_clock(stored, "end")) == ("2026-03-12T17:00:00", "2026-03-12T18:00:00")
    assert world.mocks.update_event.call_count == 1
    assert world.mocks.create_event.call_count == 1, "a move is never a second event"
    assert world.mocks.delete_event.call_count == 0, "a move is never a delete"


def test_updating_an_event_twice_ends_at_the_last_state(world: World) -> None:
    store = world.store()
    calendar = world.harness.calendar.provider_calendar_id
    event_id = world.connector.calendars.write_event(store, calendar, booking())
    # Each update is given the id the one before returned, as core stores it.
    event_id = world.connector.calendars.update_event(store, calendar, event_id, moved())
    event_id = world.connector.calendars.update_event(store, calendar, event_id, booking())
    assert list(world.events()) == [world.key(event_id)]
    assert wall_clock(world.events()[world.key(event_id)], "start") == "2026-03-12T15:00:00"


def test_updating_an_event_the_provider_no_longer_has_writes_it_again(world: World) -> None:
    store = world.store()
    calendar = world.harness.calendar.provider_calendar_id
    event_id = world.connector.calendars.write_event(store, calendar, booking())
    world.held.forget()  # gone at the provider (deleted by its owner)
    written = world.connector.calendars.update_event(store, calendar, event_id, moved())
    assert list(world.events()) == [world.key(written)]
    assert wall_clock(world.events()[world.key(written)], "start") == "2026-03-12T17:00:00"
    assert world.mocks.update_event.call_count == 1
    assert world.mocks.create_event.call_count == 2


def test_deleting_an_event_twice_is_fine(world: World) -> None:
    store = world.store()
    calendar = world.harness.calendar.provider_calendar_id
    event_id = world.connector.calendars.write_event(store, calendar, booking())
    world.connector.calendars.delete_event(store, calendar, event_id)
    world.connector.calendars.delete_event(store, calendar, event_id)
    assert world.events() == {}
    assert world.mocks.delete_event.call_count == 2


def test_a_rate_limit_is_transient_and_the_call_recovers(world: World) -> None:
    calendars = world.connector.calendars.list_calendars(world.store())
    assert world.harness.calendar.provider_calendar_id in {c.provider_calendar_id for c in calendars}
    assert world.mocks.calendars.call_count == 2
    assert len(world.sleeps) == 1, "only a transient error is retried after a wait"


def test_a_revoked_grant_requires_reauth(world: World) -> None:
    with pytest.raises(ReauthRequired) as raised:
        world.connector.calendars.list_calendars(MemoryStore(world.harness.revoked_credentials()))
    assert (raised.value.code, raised.value.provider_code) == ("reauth_required", world.harness.revoked_provider_code)
    if "oauth" in spec(world.harness.slug).capabilities:
        assert world.mocks.token is not None
        assert world.mocks.token.called, "the refresh was tried"
    assert world.sleeps == [], "a revoked grant is not retried"


def test_a_full_pull_then_an_incremental_pull_return_cursors(world: World) -> None:
    store, calendar = world.store(), world.harness.calendar
    world.held.feed_begins()
    full = world.connector.feed.pull(store, calendar, None)
    assert full.full
    assert full.cursor
    assert world.mocks.feed.call_count >= (2 if world.harness.paged_feed else 1), "every page is followed"
    busy = [change for change in full.changes if change.busy]
    assert busy
    for change in busy:
        assert change.start is not None
        assert change.end is not None
        assert change.start.utcoffset() == timedelta(0)
        assert change.start < change.end

    world.held.feed_changes()
    incremental = world.connector.feed.pull(store, calendar, full.cursor)
    assert not incremental.full
    assert incremental.cursor
    assert incremental.cursor != full.cursor
    assert any(not change.busy for change in incremental.changes), "removals arrive as busy=False"


def test_a_request_that_is_not_a_notification_is_answered_4xx(world: World) -> None:
    if "push" not in spec(world.harness.slug).capabilities:
        pytest.skip("no push capability")
    answer = world.connector.push.parse({}, {}, b"")
    assert isinstance(answer, WebhookAnswer)
    assert 400 <= answer.status < 500


def offered(world: World) -> tuple[ConferenceKind, ...]:
    """The conferences the provider declares it can attach (``ConnectorSpec.conferencing``)."""
    return tuple(sorted(spec(world.harness.slug).conferencing))


def conferencing(world: World) -> ConferenceKind:
    """The conference a booking asks for in this provider; the case is skipped without one."""
    kinds = offered(world)
    if not kinds:
        pytest.skip("no conferencing capability")
    return kinds[0]


def reader(world: World) -> EventReader:
    """The connector's event reader; the case is skipped when it reads no event back."""
    calendars: object = world.connector.calendars
    if not isinstance(calendars, EventReader):
        pytest.skip("no event read-back (the calendars part is no EventReader)")
    return calendars


def test_a_calendar_listing_reports_its_conference_capability(world: World) -> None:
    listed = {c.provider_calendar_id: c for c in world.connector.calendars.list_calendars(world.store())}
    for calendar in listed.values():
        assert set(calendar.conferencing) <= set(offered(world)), f"{calendar.name} offers an undeclared conference"
        assert len(set(calendar.conferencing)) == len(calendar.conferencing)
    assert set(listed[world.harness.calendar.provider_calendar_id].conferencing) == set(offered(world))


def test_writing_an_event_with_a_conference_asks_for_it_once(world: World) -> None:
    kind = conferencing(world)
    store, calendar = world.store(), world.harness.calendar.provider_calendar_id
    event = msgspec.structs.replace(booking(), conference=kind)
    first = world.connector.calendars.write_event(store, calendar, event)
    again = world.connector.calendars.write_event(store, calendar, event)
    assert first == again
    asked = [world.harness.conference_asked(call.request) for call in world.mocks.create_event.calls]
    assert len(asked) == 2
    assert asked[0] is not None, "the create asks for the conference as the provider documents"
    assert asked[1] == asked[0], "a retried write asks under the same key"
    assert len(world.mocks.conferences) == 1, "one booking, one conference"
    assert list(world.events()) == [world.key(first)]


def test_writing_an_event_without_a_conference_asks_for_none(world: World) -> None:
    conferencing(world)
    world.connector.calendars.write_event(world.store(), world.harness.calendar.provider_calendar_id, booking())
    assert [world.harness.conference_asked(call.request) for call in world.mocks.create_event.calls] == [None]
    assert world.mocks.conferences == []


def guests() -> OutboundEvent:
    """``booking()`` with one guest per answer Hub knows, invited by the provider."""
    people = tuple((f"guest{index}@example.org", f"Guest {index}") for index in range(len(ATTENDEE_RESPONSES)))
    return msgspec.structs.replace(booking(), attendees=people, notify_attendees=True)


def read(world: World, event_id: str) -> EventState | None:
    return reader(world).read_event(world.store(), world.harness.calendar.provider_calendar_id, event_id)


def test_a_written_event_reads_back_with_its_times_and_the_guests_answers(world: World) -> None:
    reader(world)
    event = guests()
    event_id = world.connector.calendars.write_event(world.store(), world.harness.calendar.provider_calendar_id, event)
    assert world.mocks.answer is not None, "a harness whose connector reads back lets guests answer"
    for (email, _), response in zip(event.attendees, ATTENDEE_RESPONSES, strict=True):
        world.mocks.answer(event_id, email, response)
    state = read(world, event_id)
    assert state is not None
    assert world.key(state.provider_event_id) == world.key(event_id)
    assert (state.start, state.end, state.cancelled) == (event.start, event.end, False)
    assert state.start is not None
    assert state.start.utcoffset() == timedelta(0)
    expected = {(email, response) for (email, _), response in zip(event.attendees, ATTENDEE_RESPONSES, strict=True)}
    assert set(state.attendees) == expected
    assert state.conference is None, "no conference was asked for"


def test_a_written_event_reads_back_its_conference_pending_then_ready(world: World) -> None:
    kind = conferencing(world)
    reader(world)
    event = msgspec.structs.replace(booking(), conference=kind)
    event_id = world.connector.calendars.write_event(world.store(), world.harness.calendar.provider_calendar_id, event)
    states: list[ConferenceState | None] = []
    for _ in range(3):  # a provider may still be making it on the first read (Google: pending)
        state = read(world, event_id)
        assert state is not None
        states.append(state.conference)
        if state.conference is not None and state.conference.status != "pending":
            break
    assert states[-1] == ConferenceState(kind=kind, status="ready", join_url=world.mocks.conferences[0])
    assert all(s == ConferenceState(kind=kind, status="pending") for s in states[:-1]), states


def test_a_deleted_event_reads_back_as_gone(world: World) -> None:
    reader(world)
    store, calendar = world.store(), world.harness.calendar.provider_calendar_id
    event_id = world.connector.calendars.write_event(store, calendar, booking())
    world.connector.calendars.delete_event(store, calendar, event_id)
    state = read(world, event_id)
    assert state is None or state.cancelled, state


ERROR_CASES = [(harness, case) for harness in HARNESSES for case in harness.error_cases()]


@pytest.mark.parametrize(
    ("harness", "case"), ERROR_CASES, ids=[f"{harness.slug}-{case.name}" for harness, case in ERROR_CASES]
)
def test_documented_errors_get_hubs_code_and_keep_the_providers(harness: Harness, case: ErrorCase) -> None:
    world = make_world(harness)
    world.mocks.calendars.side_effect = None
    world.mocks.calendars.return_value = case.answer
    with pytest.raises(case.kind) as raised:
        world.connector.calendars.list_calendars(world.store())
    assert type(raised.value) is case.kind
    assert (raised.value.code, raised.value.provider_code) == (case.code, case.provider_code)


def test_each_condition_has_one_code_whichever_provider_answered() -> None:
    """Where two providers document the same condition, they get the same code and class."""
    meanings: dict[str, set[tuple[str, str]]] = {}
    for harness, case in ERROR_CASES:
        meanings.setdefault(case.code, set()).add((harness.slug, case.kind.__name__))
    shared = {code for code, seen in meanings.items() if len({slug for slug, _ in seen}) > 1}
    assert {"rate_limited", "provider_unavailable", "resync_required", "reauth_required"} <= shared
    for code in shared:
        assert len({kind for _, kind in meanings[code]}) == 1, f"{code} means different things: {meanings[code]}"
