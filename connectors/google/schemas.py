"""Wire shapes of the Google Calendar API v3 and Google's OAuth endpoints, for the fields Hub
uses. msgspec ignores unknown fields, so new fields in Google's answers never break decoding.

Field names follow Google's camelCase through ``rename="camel"``; ``self`` on an attendee is
``is_self`` here (``self`` cannot name a parameter).
"""

from __future__ import annotations

import msgspec

# --- OAuth ------------------------------------------------------------------------------------


class TokenResponse(msgspec.Struct):
    """The token endpoint's answer to a code exchange (G-OAUTH)."""

    access_token: str
    expires_in: int = 3600
    scope: str = ""
    refresh_token: str | None = None
    id_token: str | None = None


class OAuthError(msgspec.Struct):
    """``{"error": "invalid_grant", "error_description": "..."}`` from the token/revoke endpoints."""

    error: str = ""
    error_description: str | None = None


class IdTokenClaims(msgspec.Struct):
    iss: str
    aud: str | list[str]
    sub: str
    exp: int
    azp: str | None = None
    email: str | None = None
    email_verified: bool = False
    iat: int | None = None


# --- API errors -------------------------------------------------------------------------------


class ErrorItem(msgspec.Struct):
    reason: str | None = None
    domain: str | None = None
    message: str | None = None


class ErrorBody(msgspec.Struct):
    code: int = 0
    message: str = ""
    errors: list[ErrorItem] = []


class ErrorEnvelope(msgspec.Struct):
    """``{"error": {"errors": [{"domain", "reason", "message"}], "code", "message"}}`` (G-ERR)."""

    error: ErrorBody


# --- events -----------------------------------------------------------------------------------


class EventDateTime(msgspec.Struct, rename="camel"):
    date: str | None = None  # all-day: yyyy-mm-dd
    date_time: str | None = None  # RFC 3339; offset required unless time_zone is given
    time_zone: str | None = None  # IANA


class Attendee(msgspec.Struct, rename="camel"):
    email: str | None = None
    is_self: bool = msgspec.field(name="self", default=False)
    organizer: bool = False
    response_status: str | None = None  # needsAction, declined, tentative, accepted


class ConferenceSolutionKey(msgspec.Struct):
    type: str  # "hangoutsMeet" (also "eventHangout", "eventNamedHangout", "addOn")


class ConferenceRequestStatus(msgspec.Struct, rename="camel"):
    status_code: str  # "pending", "success" or "failure"


class CreateConferenceRequest(msgspec.Struct, rename="camel", omit_defaults=True):
    request_id: str
    conference_solution_key: ConferenceSolutionKey
    status: ConferenceRequestStatus | None = None  # read-only: in Google's answers


class EntryPoint(msgspec.Struct, rename="camel"):
    entry_point_type: str  # "video", "phone", "sip" or "more"
    uri: str | None = None


class ConferenceData(msgspec.Struct, rename="camel", omit_defaults=True):
    """``conferenceData`` of an event: the create request (and its status) Hub sent, then the
    entry points once the conference exists."""

    create_request: CreateConferenceRequest | None = None
    entry_points: list[EntryPoint] = []
    conference_solution: dict[str, object] | None = None
    conference_id: str | None = None


class Event(msgspec.Struct, rename="camel"):
    id: str
    status: str = "confirmed"  # confirmed, tentative, cancelled
    start: EventDateTime | None = None
    end: EventDateTime | None = None
    transparency: str = "opaque"  # opaque (busy) or transparent (free)
    attendees: list[Attendee] = []
    recurring_event_id: str | None = None
    recurrence: list[str] = []
    event_type: str = "default"
    conference_data: ConferenceData | None = None
    hangout_link: str | None = None


class EventsPage(msgspec.Struct, rename="camel"):
    items: list[Event] = []
    time_zone: str | None = None
    next_page_token: str | None = None
    next_sync_token: str | None = None  # only on the last page


class EventWritten(msgspec.Struct):
    """What Hub reads back from ``events.insert``."""

    id: str


class PrivateProperties(msgspec.Struct):
    private: dict[str, str]


class InsertDateTime(msgspec.Struct, rename="camel"):
    date_time: str
    time_zone: str


class InsertAttendee(msgspec.Struct, rename="camel", omit_defaults=True):
    email: str
    display_name: str | None = None


class Reminders(msgspec.Struct, rename="camel"):
    use_default: bool


class EventInsert(msgspec.Struct, rename="camel", omit_defaults=True):
    """The body of ``events.insert`` (shape of google_event_insert_request.json)."""

    id: str
    summary: str
    start: InsertDateTime
    end: InsertDateTime
    extended_properties: PrivateProperties
    reminders: Reminders  # the calendar's default reminders, as the documented request has
    description: str | None = None
    attendees: list[InsertAttendee] = []
    conference_data: ConferenceData | None = None  # sent with ``conferenceDataVersion=1``


class EventPatch(msgspec.Struct, rename="camel"):
    """The body of ``events.patch`` for a moved booking: the fields Hub owns, nothing else (the
    fields left out stay as they are at Google; the arrays sent replace the stored ones)."""

    summary: str
    description: str | None
    start: InsertDateTime
    end: InsertDateTime
    attendees: list[InsertAttendee]


# --- calendar list ----------------------------------------------------------------------------


class CalendarListEntry(msgspec.Struct, rename="camel"):
    id: str
    summary: str = ""
    summary_override: str | None = None
    primary: bool = False
    time_zone: str | None = None
    access_role: str = "reader"  # freeBusyReader, reader, writer, owner
    deleted: bool = False
    conference_properties: ConferenceProperties | None = None


class ConferenceProperties(msgspec.Struct, rename="camel"):
    allowed_conference_solution_types: list[str] = []  # "eventHangout", "eventNamedHangout", "hangoutsMeet"


class CalendarListPage(msgspec.Struct, rename="camel"):
    items: list[CalendarListEntry] = []
    next_page_token: str | None = None


# --- push channels ----------------------------------------------------------------------------


class WatchRequest(msgspec.Struct, omit_defaults=True):
    id: str
    type: str  # "web_hook"; no default, so omit_defaults never drops it
    address: str
    token: str | None = None
    params: dict[str, str] | None = None


class Channel(msgspec.Struct, rename="camel"):
    """The watch response (G-PUSH). ``expiration`` is Unix ms, as a number or an int64 string."""

    id: str
    resource_id: str
    resource_uri: str | None = None
    token: str | None = None
    expiration: int | str | None = None


class StopRequest(msgspec.Struct, rename="camel"):
    id: str
    resource_id: str
