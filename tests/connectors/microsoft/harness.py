"""The Microsoft connector's contract harness (``tests/connectors/shared_suite/harness.py``).

Graph is faked with the documented payloads: the 429 sample (``Retry-After: 2.128``) before the
calendar list, a stateful events collection that drops a repeated create with the same
``transactionId`` (Graph's documented purpose of the property; it answers the retry with the
event it already has) and answers the booking look-up by extended property, 404
``ErrorItemNotFound`` for an event already deleted, the calendarView delta pages, and a token
endpoint that refuses the refresh with AADSTS50173 (a revoked grant).
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
from hub.connectors import Connector, ProviderCalendar, ResyncRequired
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
DELTA = rf"{re.escape(GRAPH)}/me/(calendars/[^/]+/)?calendarView/delta"
BOOKING_VALUE = re.compile(r"ep/value eq '((?:[^']|'')*)'")


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

    def install(self, router: respx.Router, settings: Settings) -> Mocks:
        events: dict[str, Any] = {}
        by_transaction: dict[str, str] = {}
        ids = (f"AAMkAGI1AAAt9AH{n}AAA=" for n in itertools.count())
        list_answers = [respond_http("graph_error_429_throttled_http")]

        def calendar_list(request: httpx.Request) -> httpx.Response:
            return list_answers.pop(0) if list_answers else httpx.Response(200, json=CALENDARS)

        def create(request: httpx.Request) -> httpx.Response:
            body = json.loads(request.content)
            known = by_transaction.get(body["transactionId"])
            if known in events:  # Graph drops the repeated POST and keeps the one event
                return httpx.Response(201, json=events[known])
            event = {**fixture("graph_event_timed"), **body, "id": next(ids)}
            events[event["id"]] = event
            by_transaction[body["transactionId"]] = event["id"]
            return httpx.Response(201, json=event)

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
                gone = {"error": {"code": "ErrorItemNotFound", "message": "The specified object was not found."}}
                return httpx.Response(404, json=gone)
            events[event_id] = {**events[event_id], **json.loads(request.content)}
            return httpx.Response(200, json=events[event_id])

        def delete(request: httpx.Request, event_id: str) -> httpx.Response:
            if events.pop(event_id, None) is None:
                gone = {"error": {"code": "ErrorItemNotFound", "message": "The specified object was not found."}}
                return httpx.Response(404, json=gone)
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
            feed=router.get(url__regex=DELTA, name="feed").mock(side_effect=delta),
            token=router.post(TOKEN_URL, name="token").mock(
                return_value=respond("entra_error_invalid_grant_50173", 400)
            ),
            events=events,
        )

    def close(self) -> None:
        return None
