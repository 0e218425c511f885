"""What core knows about providers: small protocols, plain value types, a frozen spec per
connector, and a registry from slug to the module that declares it.

Core never imports a connector package by name; it loads specs through ``spec()`` and builds a
connector with ``spec.build(settings)``. A new provider is a new folder plus one registry line.

Credentials are opaque to core: a connector returns them as a JSON-able dict when an account
is linked; core encrypts them at rest and hands them back through a ``CredentialStore``, which
the connector also uses to save refreshed tokens.

Errors follow ``hub.errors``: ``TransientError`` (retry later), ``ReauthRequired`` (the grant
is gone), ``PermanentError``, ``SkippableError``; plus ``ResyncRequired`` from a change feed
whose cursor the provider no longer accepts (Google 410, Graph syncStateNotFound).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Final, Literal, Protocol, runtime_checkable

import httpx
import msgspec

from hub.errors import PipelineError
from hub.settings import Settings

REGISTRY: Final[dict[str, str]] = {
    "email": "connectors.email.spec:SPEC",
    "google": "connectors.google.spec:SPEC",
    "microsoft": "connectors.microsoft.spec:SPEC",
    "caldav": "connectors.caldav.spec:SPEC",
}

CALENDAR_PROVIDERS: Final = ("google", "microsoft", "caldav")
# "oauth": linked through a consent redirect (``OAuthLinker``); "password": linked with a server,
# a user name and a password (``PasswordLinker``); "push": change notifications, else the
# calendars are polled every ``ConnectorSpec.poll_every``.
Capability = Literal["oauth", "password", "calendars", "change_feed", "push", "notifier"]
CALENDAR_CAPABILITIES: Final[frozenset[Capability]] = frozenset({"oauth", "calendars", "change_feed", "push"})


class ResyncRequired(PipelineError):
    """The provider no longer accepts the stored cursor: drop it and pull everything again."""

    code = "resync_required"


# --- value types ------------------------------------------------------------------------------


# Hub's names of the conferences a calendar can attach to an event it holds (the API's
# ``conferencing.provider``); connectors translate their provider's names into these.
ConferenceKind = Literal["google_meet", "teams"]
CONFERENCE_KINDS: Final[tuple[ConferenceKind, ...]] = ("google_meet", "teams")


class ProviderCalendar(msgspec.Struct, frozen=True):
    provider_calendar_id: str
    name: str
    primary: bool = False
    timezone: str | None = None  # IANA
    writable: bool = True
    # the conferences this calendar can make, its native (default) one first; () for none
    conferencing: tuple[ConferenceKind, ...] = ()


class LinkedAccount(msgspec.Struct, frozen=True):
    account_id: str  # the provider's stable id for the account (Google ``sub``, Entra ``oid``)
    account_email: str | None
    credentials: dict[str, Any]  # opaque to core; encrypted at rest
    scopes: tuple[str, ...] = ()
    calendars: tuple[ProviderCalendar, ...] = ()  # listed while linking (a PasswordLinker's discovery)


AttendeeResponse = Literal["needs_action", "accepted", "declined", "tentative"]
ATTENDEE_RESPONSES: Final[tuple[AttendeeResponse, ...]] = ("needs_action", "accepted", "declined", "tentative")
ConferenceStatus = Literal["pending", "ready", "failed"]


class ConferenceState(msgspec.Struct, frozen=True):
    """An event's conference as the provider reports it: still being made, ready with its join
    link, or failed (``error`` says why)."""

    kind: ConferenceKind
    status: ConferenceStatus
    join_url: str | None = None
    error: str | None = None


class BusyChange(msgspec.Struct, frozen=True):
    """One event from a change feed: a busy block to keep, or an event to forget.

    ``item`` names the provider object the block comes from when one object yields several
    blocks (a CalDAV resource holds a whole recurring series): a batch that mentions an item
    replaces every block stored for it, so an occurrence that is no longer there goes too. A
    removal of the whole item is ``BusyChange(provider_event_id=item, item=item, busy=False)``.
    """

    provider_event_id: str
    start: datetime | None = None  # aware UTC; None when ``busy`` is False
    end: datetime | None = None
    busy: bool = True  # False: cancelled, declined, transparent/free, or deleted -> remove
    item: str | None = None


def event_item(provider_event_id: str) -> str:
    """The provider object a written event's id names. An id may carry the version it was
    written at after a ``#`` (CalDAV: the resource URL, then its ETag; every update returns a
    new id); the object is the part before it, which is what a change feed reports as
    ``BusyChange.item`` when it reads that object back."""
    return provider_event_id.partition("#")[0]


class EventState(msgspec.Struct, frozen=True):
    """An event as the provider holds it (``EventReader.read_event``, and each event a change
    feed returns), for core to read back the events Hub wrote: their times, whether the host
    deleted or cancelled them, the guests' answers and the conference."""

    provider_event_id: str
    start: datetime | None = None  # aware UTC
    end: datetime | None = None
    cancelled: bool = False  # deleted or cancelled at the provider
    # the guests' answers (never the calendar owner's or the organizer's own): (email, response)
    attendees: tuple[tuple[str, AttendeeResponse], ...] = ()
    conference: ConferenceState | None = None


class ChangeBatch(msgspec.Struct, frozen=True):
    changes: list[BusyChange]
    cursor: str  # the new sync token / delta link, valid only once ``changes`` are stored
    full: bool  # True when this was a full pull: every event not in ``changes`` is gone
    # the state of each event the pull returned (a feed that reads none leaves it empty); an
    # event deleted at the provider is ``cancelled``, one that only left the feed's window is absent
    events: list[EventState] = []


class OutboundEvent(msgspec.Struct, frozen=True):
    """A booking as written into a provider calendar."""

    booking_id: str
    title: str
    start: datetime
    end: datetime
    timezone: str
    attendees: tuple[tuple[str, str | None], ...] = ()  # (email, name)
    description: str = ""
    notify_attendees: bool = False
    # The booking's version (0 when created, one higher with each reschedule and with the
    # cancel), as in its email invitations: an iCalendar writer (CalDAV) puts it in SEQUENCE.
    sequence: int = 0
    # a conference to attach when the event is created (one of the calendar's ``conferencing``);
    # later writes keep the conference the event has
    conference: ConferenceKind | None = None


class ChannelInfo(msgspec.Struct, frozen=True):
    channel_id: str  # Google channel id / Graph subscription id
    resource_id: str | None
    expires_at: datetime


class Notification(msgspec.Struct, frozen=True):
    """One parsed provider notification, before verification against ``push_channels``."""

    channel_id: str
    secret: str  # the channel token / clientState to verify (constant time)
    dedup_key: str
    kind: str  # "change", "sync", "reauthorizationRequired", "subscriptionRemoved", "missed"
    detail: dict[str, Any] = {}


class WebhookAnswer(msgspec.Struct, frozen=True):
    """What the webhook endpoint answers before (or instead of) storing anything."""

    status: int
    body: str = ""
    media_type: str = "text/plain"


# --- protocols ---------------------------------------------------------------------------------


class CredentialStore(Protocol):
    def get(self) -> dict[str, Any]: ...
    def save(self, credentials: dict[str, Any]) -> None: ...


@runtime_checkable
class OAuthLinker(Protocol):
    def begin(self, *, redirect_uri: str, state: str) -> tuple[str, dict[str, Any]]:
        """The authorization URL, and the flow data (PKCE verifier...) to keep until the callback."""

    def finish(self, *, flow: dict[str, Any], params: Mapping[str, str], redirect_uri: str) -> LinkedAccount:
        """Exchange the code; raise ``PermanentError`` / ``ReauthRequired`` with a clear code."""

    def revoke(self, credentials: CredentialStore) -> None: ...


class PasswordLogin(msgspec.Struct, frozen=True):
    """What a user gives to link a server-and-password account (CalDAV): the server (or a
    provider's preset naming it), the user name and an app-specific password."""

    username: str
    password: str
    server_url: str | None = None
    preset: str | None = None


class LinkRefused(PipelineError):
    """Linking cannot complete with what the user gave; ``code`` is the API error code
    (``caldav_auth_failed``, ``caldav_unreachable``, ...), answered as a 422."""

    code = "link_refused"


@runtime_checkable
class PasswordLinker(Protocol):
    def link(self, login: PasswordLogin) -> LinkedAccount:
        """Find the account on its server (discovery included); raise ``LinkRefused``."""

    def revoke(self, credentials: CredentialStore) -> None:
        """Nothing to revoke at most servers (the user deletes the app password)."""


@runtime_checkable
class CalendarOperations(Protocol):
    def list_calendars(self, credentials: CredentialStore) -> list[ProviderCalendar]: ...

    def write_event(self, credentials: CredentialStore, calendar_id: str, event: OutboundEvent) -> str:
        """Create the event (idempotently: a retry must not duplicate it); its provider id."""

    def update_event(
        self, credentials: CredentialStore, calendar_id: str, provider_event_id: str, event: OutboundEvent
    ) -> str:
        """Update the event in place to ``event`` (a moved booking); its provider id. An event
        gone at the provider is written again (as ``write_event`` does, under the booking's
        derived id), and then the id may differ."""

    def delete_event(self, credentials: CredentialStore, calendar_id: str, provider_event_id: str) -> None:
        """Delete it; an event that is already gone is not an error."""


@runtime_checkable
class EventReader(Protocol):
    """Reading back one event Hub wrote (its conference, its guests' answers, its times): the
    ``calendars`` part of a connector may implement it besides ``CalendarOperations``."""

    def read_event(self, credentials: CredentialStore, calendar_id: str, provider_event_id: str) -> EventState | None:
        """The event as the provider holds it; None when it is gone."""


@runtime_checkable
class ChangeFeed(Protocol):
    def pull(self, credentials: CredentialStore, calendar: ProviderCalendar, cursor: str | None) -> ChangeBatch:
        """All changes since ``cursor`` (everything when None), following every page."""


@runtime_checkable
class PushChannels(Protocol):
    def subscribe(
        self, credentials: CredentialStore, calendar: ProviderCalendar, *, channel_id: str, secret: str, address: str
    ) -> ChannelInfo: ...

    def renew(
        self,
        credentials: CredentialStore,
        channel: ChannelInfo,
        calendar: ProviderCalendar,
        *,
        secret: str,
        address: str,
    ) -> ChannelInfo:
        """Extend (Graph PATCH) or replace (Google: a new channel) a channel before it expires."""

    def stop(self, credentials: CredentialStore, channel: ChannelInfo) -> None: ...

    def parse(
        self, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> WebhookAnswer | list[Notification]:
        """Pure: a handshake answer (e.g. Graph's validationToken), or the notifications."""


class Connector(msgspec.Struct, frozen=True):
    """What ``ConnectorSpec.build(settings)`` returns: the parts a provider supports (None for
    a capability it lacks, so every caller checks before using a part)."""

    oauth: OAuthLinker | None = None
    password: PasswordLinker | None = None
    calendars: CalendarOperations | None = None
    feed: ChangeFeed | None = None
    push: PushChannels | None = None
    ack_status: int = 200  # what /webhooks/<slug> answers once notifications are stored
    notifier: Notifier | None = None  # a connector that tells people about bookings (email)


# --- specs and the registry -----------------------------------------------------------------


class ConnectorFactory(Protocol):
    """What a spec's ``factory`` names: ``build(settings, *, sleep, transport) -> Connector``.

    It makes no network call and builds the connector over ONE httpx client
    (``hub.http.client(transport=transport)``) that every part of the connector shares: API
    calls, token refresh, code exchange, revocation. ``sleep`` is what in-call retries wait with
    (tests pass a no-op), ``transport`` what every call is sent through (tests pass their respx
    router). Core builds a connector once per process (or job context) and reuses it.
    """

    def __call__(
        self,
        settings: Settings,
        *,
        sleep: Callable[[float], None] = ...,
        transport: httpx.BaseTransport | None = None,
    ) -> Connector: ...


class OutboxConsumer(msgspec.Struct, frozen=True):
    """A job that reacts to outbox events: ``function(outbox_id)``, idempotent."""

    function: str  # import path "package.module.function" of a ``@hub_job`` (``hub.jobs.registry``)
    events: frozenset[str]
    queue: str = "notify"


class ConnectorSpec(msgspec.Struct, frozen=True):
    slug: str
    name: str
    capabilities: frozenset[Capability] = frozenset()
    consumers: tuple[OutboxConsumer, ...] = ()
    factory: str | None = None  # import path of a ``ConnectorFactory``
    poll_every: timedelta | None = None  # without push: how often its busy calendars are synced
    # the conferences this provider can attach to events (each calendar says which it allows)
    conferencing: frozenset[ConferenceKind] = frozenset()

    def configured(self, settings: Settings) -> bool:
        """Whether the operator supplied this provider's client credentials."""
        client_id = getattr(settings, f"{self.slug}_client_id", None)
        secret = getattr(settings, f"{self.slug}_client_secret", None)
        return bool(client_id and secret) if "oauth" in self.capabilities else True

    def build(self, settings: Settings) -> Connector:
        if self.factory is None:
            raise TypeError(f"connector {self.slug} has no factory")
        builder: ConnectorFactory = _import(self.factory)
        return builder(settings)


def calendar_spec(slug: str, name: str, *, conferencing: frozenset[ConferenceKind] = frozenset()) -> ConnectorSpec:
    """The spec of a calendar provider: every calendar capability, built by
    ``connectors.<slug>.spec:build``."""
    return ConnectorSpec(
        slug=slug,
        name=name,
        capabilities=CALENDAR_CAPABILITIES,
        factory=f"connectors.{slug}.spec:build",
        conferencing=conferencing,
    )


def _import(path: str) -> Any:
    module_name, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


@cache
def spec(slug: str) -> ConnectorSpec:
    value = _import(REGISTRY[slug])
    if not isinstance(value, ConnectorSpec):
        raise TypeError(f"{REGISTRY[slug]} is not a ConnectorSpec")
    return value


def specs() -> list[ConnectorSpec]:
    return [spec(slug) for slug in REGISTRY]


# --- notifier: value types and protocol ------------------------------------------------------


class Recipient(msgspec.Struct, frozen=True):
    """Someone a notice is sent to; ``email`` is also the key of the send ledger."""

    email: str
    name: str | None = None


NoticeKind = Literal["confirmation", "cancellation", "reschedule"]


class RepeatRule(msgspec.Struct, frozen=True):
    """How a series repeats (iCalendar ``RRULE``): ``frequency`` daily/weekly/monthly, every
    ``interval``, on ``weekdays`` (mon..sun, weekly only), ``count`` times or ``until`` (aware,
    the last occurrence's start)."""

    frequency: str
    interval: int
    weekdays: tuple[str, ...] = ()
    count: int | None = None
    until: datetime | None = None


class Moved(msgspec.Struct, frozen=True):
    """An occurrence told apart from its rule (an override): at other times than the rule gives,
    or with a conference link of its own; ``recurrence_id`` is the rule's start."""

    recurrence_id: datetime
    start: datetime
    end: datetime
    join_url: str | None = None  # the occurrence's conference link, when it has one


class SeriesPart(msgspec.Struct, frozen=True):
    """What makes a booking notice about a series: the whole series (``rule`` set; the notice's
    start and end are the first occurrence's by the rule) or one occurrence (``recurrence_id``,
    the rule's start of it; the notice's times are the occurrence's own)."""

    series_id: str
    rule: RepeatRule | None = None
    excluded: tuple[datetime, ...] = ()  # the rule's starts that are not booked (skipped, cancelled)
    moved: tuple[Moved, ...] = ()
    recurrence_id: datetime | None = None


class BookingNotice(msgspec.Struct, frozen=True):
    """A booking confirmed, moved or cancelled, as its host and attendees are told about it.

    Times are aware; ``sequence`` is the booking's version (0 when created, one higher with each
    reschedule and with the cancel) and ``stamp`` when this version came to be (the outbox
    event's time). A reschedule also carries the times before the move (``previous_*``).
    """

    kind: NoticeKind
    booking_id: str
    sequence: int
    title: str
    start: datetime
    end: datetime
    timezone: str  # IANA
    host: Recipient
    attendees: tuple[Recipient, ...]
    stamp: datetime
    cancellation_reason: str | None = None
    previous_start: datetime | None = None
    previous_end: datetime | None = None
    reschedule_reason: str | None = None
    co_hosts: tuple[Recipient, ...] = ()
    """The other hosts of a team booking (``host`` is its first)."""
    join_url: str | None = None  # the booking's conference link, when it has one
    series: SeriesPart | None = None  # a recurring booking's one invitation, or one occurrence of it


class RelinkNotice(msgspec.Struct, frozen=True):
    """Ask a user to connect a calendar account again, through a signed link."""

    provider_name: str  # "Google Calendar"
    account: str | None  # the linked account's address, when known
    url: str


Notice = BookingNotice | RelinkNotice


@runtime_checkable
class Notifier(Protocol):
    """Composes and sends one message per recipient; core keeps the send ledger.

    A spec that declares the ``notifier`` capability builds a ``Connector`` with this part;
    ``hub.notifications`` finds it there and drives it.

    ``send`` returns normally once the message went out, or raises: ``SkippableError`` when this
    recipient alone cannot be served for good (refused by the server, not writable as an
    address: record it and go on with the others), ``PermanentError`` when no message can go out
    until the settings change (record it and stop), ``TransientError`` to retry later.
    """

    def recipients(self, notice: BookingNotice) -> tuple[Recipient, ...]:
        """Who is told about ``notice``: the attendees, then the host; each address once."""

    def message_id(self, notice: BookingNotice, recipient: Recipient) -> str:
        """The id of the message for ``recipient``: the same each time it is composed."""

    def send(self, notice: Notice, recipient: Recipient) -> None: ...


class Connectors:
    """The connectors of one app or one worker process, each built once (on first use) from
    that process's settings and then shared by every request or job of that process.

    The API keeps one on ``app.state.connectors`` (injected as the ``connectors`` dependency);
    a worker's job context holds another. Nothing is cached at module level, so two apps in one
    process share no connector.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._built: dict[str, Connector] = {}
        self._lock = threading.Lock()

    def get(self, slug: str) -> Connector:
        """The connector of provider ``slug``, built on first use."""
        connector = self._built.get(slug)
        if connector is None:
            with self._lock:
                connector = self._built.get(slug)
                if connector is None:
                    connector = self._built[slug] = spec(slug).build(self.settings)
        return connector
