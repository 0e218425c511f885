"""How a calendar connector plugs into the shared contract suite (``test_connector_contract.py``).

A provider writes one ``Harness`` (next to its own tests, e.g. ``tests/connectors/google/
harness.py``) and appends an instance to ``harnesses.HARNESSES``. The suite then checks, with the
provider's own documented payloads served by respx:

* the capabilities the spec declares are implemented (``hub.connectors`` protocols);
* writing one booking twice yields one event and the same provider id;
* updating a written event moves it in place (same provider id, one event, the new times), and
  updating one the provider no longer has writes it again (one event, the new times);
* deleting an event twice is fine (already gone is not an error);
* a rate-limit answer is classified transient, retried in-call, and the call recovers;
* a revoked grant (refresh answers ``invalid_grant``; a CalDAV server refuses the app password)
  raises ``ReauthRequired`` with the harness's ``revoked_provider_code``;
* a full pull, then an incremental pull with its cursor, each return a cursor; busy blocks are
  aware UTC times;
* a push request that is not a provider notification is answered 4xx, not raised;
* a calendar listing reports the conferences the calendar can make: ``harness.calendar`` every
  kind the spec declares (``ConnectorSpec.conferencing``), no calendar a kind it does not;
* with declared conferencing: writing a booking with a conference asks for it the way the
  provider documents (``Harness.conference_asked`` reads the request), a retried write asks
  with the same key and the provider makes one conference (``Mocks.conferences``); a booking
  without one asks for none;
* with an ``EventReader`` (``hub.connectors``): a written event reads back with its times in UTC
  and the guests' answers (given through ``Mocks.answer`` in the provider's own terms) as Hub's
  values; with declared conferencing its conference reads back ``pending`` until the provider
  has made it, then ``ready`` with the link; a deleted event reads back as gone or cancelled;
* every documented error answer of the provider (``error_cases``) becomes the pipeline error
  and Hub's code the catalogue names (docs/errors.md), with the provider's own code kept as
  ``provider_code``; the same condition gives the same code whichever provider answered.

The connector is built with ``transport``: the suite's respx router, the one way out of the
connector (no patching of httpx), so a call through any other client fails the test. A harness
over a real server (CalDAV: Radicale) makes its routes forward to that server; they then only
sort and count the requests, and ``Mocks.holdings`` reads what the server holds.

Provider event ids are compared through ``Holdings.key``: a provider whose id carries a version
(CalDAV keeps the resource's ETag after ``#``) returns a new id from every update, for the same
event. What differs between providers is a per-harness value, never a test that names a
provider: ``revoked_provider_code`` (OAuth: ``invalid_grant``; CalDAV: ``http_401``),
``paged_feed`` (whether a full pull spans pages), and the capabilities the spec declares (no
``push``: the push cases are skipped; no ``oauth``: no token endpoint, ``token`` is None; no
``conferencing``: the conference cases are skipped; a ``calendars`` part that is no
``EventReader``: the read-back cases are skipped).

What ``install`` must mock (named routes, returned in ``Mocks``):

``calendars``
    the calendar list; its FIRST answer is the provider's rate-limit answer (Google: 403
    ``rateLimitExceeded``; Graph: 429), every later one the list, which contains
    ``harness.calendar``.
``create_event``
    a stateful fake: it stores a created event in ``Mocks.events`` (by provider id) and answers
    a repeated create of the same booking (same client-supplied id / ``transactionId``) the way
    the provider does (Google: 409 ``duplicate``).
``update_event``
    the provider's patch of one event (Google ``events.patch``, Graph ``PATCH /me/events/{id}``):
    merges the body into the stored event in ``Mocks.events`` and answers the event; an event
    that is not there gets the provider's not-found answer (Google: 410 ``deleted``; Graph: 404).
``delete_event``
    removes the event from ``Mocks.events``; deleting one that is not there gets the provider's
    already-gone answer (Google: 410 ``deleted``; Graph: 404).
``feed``
    the change feed of ``harness.calendar``: without a cursor at least two pages, the last with
    the cursor; with that cursor an incremental page holding at least one removal and a new cursor.
``conferences`` (a list, not a route)
    the join link of every conference the fake provider made, in order: a create that asks for
    one makes it (Google: at once ``pending``, ``success`` on a later ``events.get``; Graph: the
    ``onlineMeeting`` on the create), a repeated create of the same booking makes none.
``answer`` (a callable, not a route)
    ``answer(provider_event_id, email, response)``: the guest answers the event, stored in the
    provider's own terms (Google ``responseStatus``, Graph ``status.response``); None for a
    provider whose harness reads nothing back. A read of an event (Google ``events.get``, Graph
    ``GET /me/events/{id}``) answers what is held; a deleted one the provider's answer for it.
``token``
    the token endpoint, answering a refresh with ``invalid_grant`` (the grant was revoked); None
    for a provider without one (linked by password).

``credentials()`` must work without touching ``token``; ``revoked_credentials()`` must need a
refresh (e.g. an expired access token), which ``token`` then refuses, or be a password the
server refuses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import respx

from hub.connectors import AttendeeResponse, Connector, ProviderCalendar
from hub.errors import PipelineError
from hub.settings import Settings


class MemoryStore:
    """A ``CredentialStore`` in memory; ``saved`` records every ``save``."""

    def __init__(self, credentials: dict[str, Any]) -> None:
        self.credentials = dict(credentials)
        self.saved: list[dict[str, Any]] = []

    def get(self) -> dict[str, Any]:
        return dict(self.credentials)

    def save(self, credentials: dict[str, Any]) -> None:
        self.credentials = dict(credentials)
        self.saved.append(dict(credentials))


class Holdings(Protocol):
    """What the provider holds in ``harness.calendar``, as the suite inspects and changes it."""

    def key(self, provider_event_id: str) -> str:
        """The event a provider event id names (ids that differ only by version: one key)."""

    def events(self) -> dict[str, Any]:
        """The events held, by ``key``; each with ``start``/``end`` ``{"dateTime": ...}``."""

    def forget(self) -> None:
        """Remove every event at the provider (its owner deleted them)."""

    def feed_begins(self) -> None:
        """Before a full pull: make sure the calendar holds busy events."""

    def feed_changes(self) -> None:
        """Between the full and the incremental pull: remove one of them."""


class MockedHoldings:
    """``Holdings`` of a mocked provider: its ``Mocks.events``; the feed's pages are canned."""

    def __init__(self, events: dict[str, Any]) -> None:
        self._events = events

    def key(self, provider_event_id: str) -> str:
        return provider_event_id

    def events(self) -> dict[str, Any]:
        return self._events

    def forget(self) -> None:
        self._events.clear()

    def feed_begins(self) -> None:
        return None

    def feed_changes(self) -> None:
        return None


@dataclass
class Mocks:
    """The named respx routes the suite inspects (see the module docstring for their behaviour)."""

    calendars: respx.Route
    create_event: respx.Route
    update_event: respx.Route
    delete_event: respx.Route
    feed: respx.Route
    token: respx.Route | None  # None: no token endpoint (linked by password)
    events: dict[str, Any] = field(default_factory=dict)  # what the fake provider holds, by id
    holdings: Holdings | None = None  # a real server's; None: ``MockedHoldings(events)``
    read_event: respx.Route | None = None  # the read of one event, for a connector that reads back
    conferences: list[str] = field(default_factory=list)  # join links of the conferences made
    answer: Callable[[str, str, AttendeeResponse], None] | None = None  # a guest's answer, stored natively

    def held(self) -> Holdings:
        return self.holdings if self.holdings is not None else MockedHoldings(self.events)


@dataclass(frozen=True)
class ErrorCase:
    """One documented error answer of the provider's API and what Hub must make of it.

    The suite serves ``answer`` to the calendar list (credentials that need no refresh) and
    expects ``list_calendars`` to raise exactly ``kind`` with Hub's ``code`` and the provider's
    ``provider_code``. A ``401`` leads to one refresh, which the mocked token endpoint refuses
    (``invalid_grant``)."""

    name: str  # the fixture, for the test id
    answer: httpx.Response
    kind: type[PipelineError]
    code: str
    provider_code: str | None


class Harness(Protocol):
    slug: str  # the registry slug
    revoked_provider_code: str  # the provider's code when the grant or password is refused
    paged_feed: bool  # a full pull follows more than one page

    @property
    def calendar(self) -> ProviderCalendar:
        """The calendar the mocks (or the real server) serve."""

    def settings(self, base: Settings) -> Settings:
        """``base`` with client ids/secrets and every endpoint pointing at the mocked hosts."""

    def build(self, settings: Settings, *, sleep: Callable[[float], None], transport: httpx.BaseTransport) -> Connector:
        """The connector, with ``sleep`` used for in-call retry waits (the suite records them)
        and every HTTP call sent through ``transport``."""

    def install(self, router: respx.Router, settings: Settings) -> Mocks:
        """Add the documented-payload routes to ``router`` and return them."""

    def conference_asked(self, request: httpx.Request) -> str | None:
        """What a create request (``Mocks.create_event``) asks the provider to make a conference
        under, exactly as the provider documents the asking (Google: ``conferenceDataVersion=1``
        and a ``hangoutsMeet`` ``createRequest``, its ``requestId``; Graph: ``isOnlineMeeting``
        with ``teamsForBusiness``, the create's ``transactionId``); None when it asks for none."""

    def credentials(self) -> dict[str, Any]:
        """Credentials as ``finish`` would return them, valid without a refresh."""

    def revoked_credentials(self) -> dict[str, Any]:
        """Credentials whose use needs a refresh, which the mocked token endpoint refuses."""

    def error_cases(self) -> list[ErrorCase]:
        """The provider's documented error answers (its fixtures) and Hub's reading of them."""

    def close(self) -> None:
        """Release what the harness started (a real server); called once, after the suite."""
