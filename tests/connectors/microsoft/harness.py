"""The Microsoft connector's contract harness (``tests/connectors/shared_suite/harness.py``).

Graph is faked with the documented payloads: the 429 sample (``Retry-After: 2.128``) before the
calendar list, a stateful events collection that drops a repeated create with the same
``transactionId`` (Graph's documented purpose of the property; it answers the retry with the
event it already has) and answers the booking look-up by extended property, 404
``ErrorItemNotFound`` for an event already deleted, the calendarView delta pages, and a token
endpoint that refuses the refresh with AADSTS50173 (a revoked grant).

The default calendar allows Teams (``allowedOnlineMeetingProviders`` of
graph_calendar_online_meetings.json); a create with ``isOnlineMeeting`` and
``onlineMeetingProvider: teamsForBusiness`` gets its ``onlineMeeting.joinUrl`` at once (a
deduplicated retry makes no second meeting). Attendees start at ``status.response: none``;
``GET /me/events/{id}`` answers the stored event, 404 ``ErrorItemNotFound`` once deleted.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import respx

from connectors.microsoft.spec import build
from hub.connectors import AttendeeResponse, Connector, ProviderCalendar, ResyncRequired
from hub.errors import PermanentError, ReauthRequired, TransientError
from hub.settings import Settings
from tests.connectors.microsoft.helpers import (
    CALENDAR_ID,
    CALENDARS,
    CLIENT_ID,
    CLIENT_SECRET,
    DISCOVERY_URL,
    GRAPH,
    TOKEN_URL,
    credentials,
    fixture,
    respond,
    respond_http,
)
from tests.connectors.shared_suite.harness import ErrorCase, Mocks

EVENTS = f"{GRAPH}/me/calendars/{CALENDAR_ID}/events"
EVENT_URL = rf"{re.escape(GRAPH)}/me/events/(?P<event_id>[^/?]+)$"
EVENT_READ_URL = rf"{re.escape(GRAPH)}/me/events/(?P<event_id>[^/?]+)(?=[?]|$)"  # with $select
DELTA = rf"{re.escape(GRAPH)}/me/(calendars/[^/]+/)?calendarView/delta"
BOOKING_VALUE = re.compile(r"ep/value eq '((?:[^']|'')*)'")
TEAMS = "teamsForBusiness"
# Hub's attendee response -> Graph's attendees[].status.response
STATUS_RESPONSE: dict[AttendeeResponse, str] = {
    "needs_action": "notResponded",
    "accepted": "accepted",
    "declined": "declined",
    "tentative": "tentativelyAccepted",
}
GONE = {"error": {"code": "ErrorItemNotFound", "message": "The specified object was not found."}}


def calendars() -> dict[str, Any]:
    """``GET /me/calendars`` with the default calendar allowing Teams (and Skype for Business)."""
    allowing = fixture("graph_calendar_online_meetings")
    providers = {key: allowing[key] for key in ("allowedOnlineMeetingProviders", "defaultOnlineMeetingProvider")}
    listing: dict[str, Any] = dict(CALENDARS)
    default, *others = listing["value"]
    return {**listing, "value": [{**default, **providers}, *others]}


class MicrosoftHarness:
    slug = "microsoft"
    revoked_provider_code = "invalid_grant"  # the token endpoint refuses the refresh
    paged_feed = True
    calendar = ProviderCalendar(provider_calendar_id=CALENDAR_ID, name="Calendar", primary=True)

    def settings(self, base: Settings) -> Settings:
        return msgspec.structs.replace(
            base,
            microsoft_client_id=CLIENT_ID,
            microsoft_client_secret=CLIENT_SECRET,
            microsoft_authority="https://login.microsoftonline.com/common",
            microsoft_graph_url=GRAPH,  # the fixtures' nextLink / deltaLink point here
        )

    def build(self, settings: Settings, *, sleep: Callable[[float], None], transport: httpx.BaseTransport) -> Connector:
        return build(settings, sleep=sleep, transport=transport)

    def credentials(self) -> dict[str, Any]:
        return credentials()

    def revoked_credentials(self) -> dict[str, Any]:
        return credentials(expired=True)

    def error_cases(self) -> list[ErrorCase]:
        return [
            ErrorCase(
                "graph_error_401_invalid_token",
                respond("graph_error_401_invalid_token", 401),
                ReauthRequired,
                "reauth_required",
                "invalid_grant",  # the forced refresh is refused (entra_error_invalid_grant_50173)
            ),
            ErrorCase(
                "graph_error_410_sync_state_not_found",
                respond("graph_error_410_sync_state_not_found", 410),
                ResyncRequired,
                "resync_required",
                "SyncStateNotFound",
            ),
            ErrorCase(
                "graph_error_429_throttled",
                respond("graph_error_429_throttled", 429),
                TransientError,
                "rate_limited",
                "TooManyRequests",
            ),
            ErrorCase(
                "graph_error_429_throttled_http",
                respond_http("graph_error_429_throttled_http"),
                TransientError,
                "rate_limited",
                "TooManyRequests",
            ),
            ErrorCase(
                "graph_error_503_service_unavailable_http",
                respond_http("graph_error_503_service_unavailable_http"),
                TransientError,
                "provider_unavailable",
                "serviceNotAvailable",
            ),
            ErrorCase(
                "graph_error_doc_example",
                respond("graph_error_doc_example", 416),
                PermanentError,
                "invalid_request",
                "invalidRange",
            ),
        ]

    def conference_asked(self, request: httpx.Request) -> str | None:
        """The create's ``transactionId`` when it asks for a Teams online meeting: Graph makes
        the meeting with the event, and drops a repeated create with the same id."""
        body = json.loads(request.content)
        if body.get("isOnlineMeeting") is True and body.get("onlineMeetingProvider") == TEAMS:
            return str(body["transactionId"])
        return None

    def install(self, router: respx.Router, settings: Settings) -> Mocks:
        events: dict[str, Any] = {}
        by_transaction: dict[str, str] = {}
        conferences: list[str] = []
        ids = (f"AAMkAGI1AAAt9AH{n}AAA=" for n in itertools.count())
        list_answers = [respond_http("graph_error_429_throttled_http")]
        allowed = calendars()["value"][0]["allowedOnlineMeetingProviders"]

        def calendar_list(request: httpx.Request) -> httpx.Response:
            return list_answers.pop(0) if list_answers else httpx.Response(200, json=calendars())

        def create(request: httpx.Request) -> httpx.Response:
            body = json.loads(request.content)
            known = by_transaction.get(body["transactionId"])
            if known in events:  # Graph drops the repeated POST and keeps the one event
                return httpx.Response(201, json=events[known])
            event = {**fixture("graph_event_timed"), **body, "id": next(ids)}
            event["attendees"] = [
                {**a, "status": {"response": "none", "time": "0001-01-01T00:00:00Z"}} for a in body.get("attendees", [])
            ]
            if self.conference_asked(request) is not None and TEAMS in allowed:
                join = fixture("graph_event_online_meeting")["onlineMeeting"]["joinUrl"].replace(
                    "NzIyNzhl", f"Hub{len(conferences)}"
                )
                event.update(onlineMeetingProvider=TEAMS, onlineMeeting={"joinUrl": join})
                conferences.append(join)
            events[event["id"]] = event
            by_transaction[body["transactionId"]] = event["id"]
            return httpx.Response(201, json=event)

        def get(request: httpx.Request, event_id: str) -> httpx.Response:
            if event_id not in events:
                return httpx.Response(404, json=GONE)
            return httpx.Response(200, json=events[event_id])

        def answer(event_id: str, email: str, response: AttendeeResponse) -> None:
            guest = next(a for a in events[event_id]["attendees"] if a["emailAddress"]["address"] == email)
            guest["status"] = {"response": STATUS_RESPONSE[response], "time": "2026-03-02T11:02:10.0000000Z"}

        def lookup(request: httpx.Request) -> httpx.Response:
            match = BOOKING_VALUE.search(request.url.params.get("$filter", ""))
            booking = match.group(1).replace("''", "'") if match else None
            value = [
                {"id": e["id"], "createdDateTime": e["createdDateTime"]}
                for e in events.values()
                if any(p["value"] == booking for p in e.get("singleValueExtendedProperties", []))
            ]
            return httpx.Response(200, json={"value": value})

        def patch(request: httpx.Request, event_id: str) -> httpx.Response:
            if event_id not in events:
                return httpx.Response(404, json=GONE)
            events[event_id] = {**events[event_id], **json.loads(request.content)}
            return httpx.Response(200, json=events[event_id])

        def delete(request: httpx.Request, event_id: str) -> httpx.Response:
            if events.pop(event_id, None) is None:
                return httpx.Response(404, json=GONE)
            return httpx.Response(204)

        page1, page2 = fixture("graph_calendarview_delta_page1"), fixture("graph_calendarview_delta_page2_final")

        def delta(request: httpx.Request) -> httpx.Response:
            url = str(request.url)
            if url == page1["@odata.nextLink"]:
                return respond("graph_calendarview_delta_page2_final")
            if url == page2["@odata.deltaLink"]:
                return respond("graph_calendarview_delta_incremental")
            if "$deltatoken" in url:
                return respond("graph_error_410_sync_state_not_found", 410)
            return respond("graph_calendarview_delta_page1")

        router.get(DISCOVERY_URL, name="discovery").mock(return_value=respond("entra_openid_configuration_common"))
        router.get(EVENTS, name="lookup_event").mock(side_effect=lookup)
        return Mocks(
            calendars=router.get(f"{GRAPH}/me/calendars", name="calendars").mock(side_effect=calendar_list),
            create_event=router.post(EVENTS, name="create_event").mock(side_effect=create),
            update_event=router.patch(url__regex=EVENT_URL, name="update_event").mock(side_effect=patch),
            delete_event=router.delete(url__regex=EVENT_URL, name="delete_event").mock(side_effect=delete),
            read_event=router.get(url__regex=EVENT_READ_URL, name="read_event").mock(side_effect=get),
            feed=router.get(url__regex=DELTA, name="feed").mock(side_effect=delta),
            token=router.post(TOKEN_URL, name="token").mock(
                return_value=respond("entra_error_invalid_grant_50173", 400)
            ),
            events=events,
            conferences=conferences,
            answer=answer,
        )

    def close(self) -> None:
        return None
