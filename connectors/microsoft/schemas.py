"""Microsoft Graph wire shapes: only the fields Hub reads, tolerant of every other field.

Names follow Graph's camelCase on the wire (``rename="camel"``); OData annotations
(``@odata.nextLink``, ``@removed``...) are named explicitly. Times stay strings here: Graph's
``dateTime`` has no offset and seven fractional digits, and is interpreted in ``mapping``.
"""

from __future__ import annotations

import msgspec


class _Wire(msgspec.Struct, rename="camel"):
    """Base of the Graph shapes: camelCase names; unknown fields are ignored by msgspec."""


# --- events and delta --------------------------------------------------------------------------


class DateTimeTimeZone(_Wire):
    date_time: str
    time_zone: str | None = None  # Windows ("W. Europe Standard Time") or IANA name


class Removed(_Wire):
    reason: str | None = None  # "deleted" (or "changed" for items that left the window)


class ResponseStatus(_Wire):
    response: str | None = None  # "none", "organizer", "accepted", "declined", ...


class EmailAddressIn(_Wire):
    address: str | None = None
    name: str | None = None


class Attendee(_Wire):
    """An attendee as Graph answers it: ``status.response`` is their answer."""

    email_address: EmailAddressIn | None = None
    status: ResponseStatus | None = None
    type: str | None = None  # required, optional, resource


class OnlineMeetingInfo(_Wire):
    join_url: str | None = None


class Event(_Wire):
    id: str
    removed: Removed | None = msgspec.field(default=None, name="@removed")
    etag: str | None = msgspec.field(default=None, name="@odata.etag")
    subject: str | None = None
    start: DateTimeTimeZone | None = None
    end: DateTimeTimeZone | None = None
    is_all_day: bool = False
    is_cancelled: bool = False
    show_as: str | None = None  # free, tentative, busy, oof, workingElsewhere, unknown
    type: str | None = None  # singleInstance, occurrence, exception, seriesMaster
    series_master_id: str | None = None
    response_status: ResponseStatus | None = None
    transaction_id: str | None = None
    created_date_time: str | None = None
    attendees: list[Attendee] = []
    is_online_meeting: bool = False
    online_meeting_provider: str | None = None  # teamsForBusiness, skypeForBusiness, skypeForConsumer, unknown
    online_meeting: OnlineMeetingInfo | None = None  # set once the meeting exists


class DeltaPage(_Wire):
    value: list[Event] = []
    next_link: str | None = msgspec.field(default=None, name="@odata.nextLink")
    delta_link: str | None = msgspec.field(default=None, name="@odata.deltaLink")


class EventList(_Wire):
    """A plain collection of events (the idempotency look-up in ``calendar``)."""

    value: list[Event] = []


# --- calendars and the signed-in user ----------------------------------------------------------


class Calendar(_Wire):
    id: str
    name: str = ""
    is_default_calendar: bool | None = None
    can_edit: bool | None = None
    # the online meeting providers the calendar may use: unknown, skypeForBusiness, skypeForConsumer, teamsForBusiness
    allowed_online_meeting_providers: list[str] = []
    default_online_meeting_provider: str | None = None


class CalendarPage(_Wire):
    value: list[Calendar] = []
    next_link: str | None = msgspec.field(default=None, name="@odata.nextLink")


class Me(_Wire):
    id: str
    mail: str | None = None
    user_principal_name: str | None = None


# --- subscriptions and notifications -----------------------------------------------------------


class Subscription(_Wire):
    id: str
    expiration_date_time: str
    resource: str | None = None


class ResourceData(_Wire):
    id: str | None = None
    etag: str | None = msgspec.field(default=None, name="@odata.etag")


class NotificationItem(_Wire):
    """One entry of a ``changeNotificationCollection``: a change, or a lifecycle event."""

    subscription_id: str | None = None
    subscription_expiration_date_time: str | None = None
    client_state: str | None = None
    tenant_id: str | None = None
    id: str | None = None
    change_type: str | None = None
    resource: str | None = None
    resource_data: ResourceData | None = None
    lifecycle_event: str | None = None


class NotificationCollection(_Wire):
    value: list[NotificationItem]


# --- request bodies ----------------------------------------------------------------------------


class EmailAddress(_Wire):
    address: str
    name: str


class AttendeeIn(_Wire):
    email_address: EmailAddress
    type: str  # "required"


class ItemBody(_Wire):
    content_type: str  # "text"
    content: str


class ExtendedProperty(_Wire):
    id: str
    value: str


class EventCreate(_Wire):
    """The body of ``POST /me/calendars/{id}/events`` (shape of graph_event_create_request.json).
    ``attendees`` is sent only when Graph should invite them (it emails a meeting request)."""

    subject: str
    start: DateTimeTimeZone
    end: DateTimeTimeZone
    show_as: str
    is_online_meeting: bool
    allow_new_time_proposals: bool
    transaction_id: str
    single_value_extended_properties: list[ExtendedProperty]
    body: ItemBody
    attendees: list[AttendeeIn] | msgspec.UnsetType = msgspec.UNSET
    online_meeting_provider: str | msgspec.UnsetType = msgspec.UNSET  # with is_online_meeting: true


class EventUpdate(_Wire):
    """The body of ``PATCH /me/events/{id}`` for a moved booking: the fields Hub owns (never
    ``transactionId``, which Graph does not let an update change)."""

    subject: str
    start: DateTimeTimeZone
    end: DateTimeTimeZone
    body: ItemBody | msgspec.UnsetType = (
        msgspec.UNSET
    )  # not sent for an online meeting: Graph put the join details there
    attendees: list[AttendeeIn] | msgspec.UnsetType = msgspec.UNSET


class SubscriptionCreate(_Wire):
    """The body of ``POST /subscriptions`` (shape of graph_subscription_create_request.json)."""

    change_type: str
    notification_url: str
    lifecycle_notification_url: str
    resource: str
    expiration_date_time: str
    client_state: str
    latest_supported_tls_version: str


class SubscriptionRenew(_Wire):
    """The body of ``PATCH /subscriptions/{id}`` (shape of graph_subscription_renew_request.json)."""

    expiration_date_time: str


# --- errors ------------------------------------------------------------------------------------


class GraphError(_Wire):
    code: str | None = None


class GraphErrorBody(_Wire):
    error: GraphError | None = None
