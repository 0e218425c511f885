"""The Google connector's contract harness (``tests/connectors/shared_suite/harness.py``).

Google is faked with its documented payloads. An insert with ``conferenceDataVersion=1`` and a
Meet ``createRequest`` is answered with the request ``pending`` (google_event_conference_pending.json);
the conference is made then, and the next ``events.get`` but one shows it ``success`` with its
``video`` entry point and ``hangoutLink`` (google_event_conference_success.json). Guests start at
``responseStatus: needsAction``. A deleted event stays behind as ``status: cancelled``, which
``events.get`` answers; its id stays taken (a new insert under it answers 409 ``duplicate``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import respx

from connectors.google.spec import build
from hub.connectors import AttendeeResponse, Connector, ProviderCalendar, ResyncRequired
from hub.errors import PermanentError, PipelineError, ReauthRequired, SkippableError, TransientError
from hub.settings import Settings
from tests.connectors.google.helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    expired_credentials,
    fixture,
    respond,
    valid_credentials,
)
from tests.connectors.shared_suite.harness import ErrorCase, Mocks

API = "https://calendar.google.test/calendar/v3"
EVENTS = f"{API}/calendars/alice%40example.com/events"
EVENT_URL = rf"{EVENTS}/(?P<event_id>[a-v0-9]+)(?=[?]|$)"
# Hub's attendee response -> Google's attendees[].responseStatus
RESPONSE_STATUS: dict[AttendeeResponse, str] = {
    "needs_action": "needsAction",
    "accepted": "accepted",
    "declined": "declined",
    "tentative": "tentative",
}


def meet_link(request_id: str) -> str:
    """The Meet link the fake makes for a create request (Google's ``aaa-bbbb-ccc`` shape)."""
    code = "".join(chr(ord("a") + int(c, 16) % 26) for c in hashlib.sha256(request_id.encode()).hexdigest()[:10])
    return f"https://meet.google.com/{code[:3]}-{code[3:7]}-{code[7:]}"


def made(conference: dict[str, Any], link: str) -> dict[str, Any]:
    """``conferenceData`` once Google has made the conference (the success fixture's, with ``link``)."""
    done = fixture("google_event_conference_success")["conferenceData"]
    done["createRequest"] = {**conference["createRequest"], "status": {"statusCode": "success"}}
    for point in done["entryPoints"]:
        if point["entryPointType"] == "video":
            point.update(uri=link, label=link.removeprefix("https://"))
    done["conferenceId"] = link.rsplit("/", 1)[-1]
    return dict(done)


class GoogleHarness:
    slug = "google"
    revoked_provider_code = "invalid_grant"  # the token endpoint refuses the refresh
    paged_feed = True
    calendar = ProviderCalendar(
        provider_calendar_id="alice@example.com", name="alice@example.com", primary=True, timezone="Europe/Berlin"
    )

    def settings(self, base: Settings) -> Settings:
        return msgspec.structs.replace(
            base,
            google_client_id=CLIENT_ID,
            google_client_secret=CLIENT_SECRET,
            google_auth_url="https://accounts.google.test/o/oauth2/v2/auth",
            google_token_url="https://oauth2.google.test/token",
            google_revoke_url="https://oauth2.google.test/revoke",
            google_api_url=API,
        )

    def build(self, settings: Settings, *, sleep: Callable[[float], None], transport: httpx.BaseTransport) -> Connector:
        return build(settings, sleep=sleep, transport=transport)

    def credentials(self) -> dict[str, Any]:
        return valid_credentials()

    def revoked_credentials(self) -> dict[str, Any]:
        return expired_credentials()

    def error_cases(self) -> list[ErrorCase]:
        def case(name: str, status: int, kind: type[PipelineError], code: str, provider_code: str | None) -> ErrorCase:
            return ErrorCase(name, respond(name, status), kind, code, provider_code)

        return [
            case("google_error_401_invalid_credentials", 401, ReauthRequired, "reauth_required", "invalid_grant"),
            case("google_error_403_quota_exceeded", 403, TransientError, "quota_exceeded", "quotaExceeded"),
            case("google_error_403_rate_limit_exceeded", 403, TransientError, "rate_limited", "rateLimitExceeded"),
            case(
                "google_error_403_user_rate_limit_exceeded",
                403,
                TransientError,
                "rate_limited",
                "userRateLimitExceeded",
            ),
            case("google_error_409_duplicate", 409, PermanentError, "conflict", "duplicate"),
            case("google_error_410_deleted", 410, SkippableError, "not_found", "deleted"),
            case("google_error_410_full_sync_required", 410, ResyncRequired, "resync_required", "fullSyncRequired"),
            case("google_error_429_rate_limit_exceeded", 429, TransientError, "rate_limited", "rateLimitExceeded"),
            case("google_error_500_backend_error", 500, TransientError, "provider_unavailable", "backendError"),
            case("google_error_503_backend_error", 503, TransientError, "provider_unavailable", "backendError"),
        ]

    def conference_asked(self, request: httpx.Request) -> str | None:
        """The ``requestId`` of a Meet ``createRequest`` sent with ``conferenceDataVersion=1``."""
        create = (json.loads(request.content).get("conferenceData") or {}).get("createRequest") or {}
        if request.url.params.get("conferenceDataVersion") != "1":
            return None  # "Version 0 assumes no conference data support and ignores conference data"
        if (create.get("conferenceSolutionKey") or {}).get("type") != "hangoutsMeet":
            return None
        return str(create["requestId"]) if create.get("requestId") else None

    def install(self, router: respx.Router, settings: Settings) -> Mocks:
        events: dict[str, Any] = {}
        deleted: dict[str, Any] = {}
        conferences: list[str] = []
        pending: dict[str, int] = {}  # event id -> reads left before its conference is made
        list_answers = [respond("google_error_403_rate_limit_exceeded", 403)]

        def calendar_list(request: httpx.Request) -> httpx.Response:
            return list_answers.pop(0) if list_answers else respond("google_calendar_list")

        def insert(request: httpx.Request) -> httpx.Response:
            body = json.loads(request.content)
            if body["id"] in events or body["id"] in deleted:
                return respond("google_error_409_duplicate", 409)
            answered = fixture("google_event_conference_pending")  # Google's answer to an insert, filled in
            event = {k: v for k, v in answered.items() if k not in ("conferenceData", "attendees")} | body
            event.pop("conferenceData", None)  # without version 1 Google ignores it
            for attendee in event.get("attendees", []):
                attendee.setdefault("responseStatus", "needsAction")
            request_id = self.conference_asked(request)
            if request_id is not None:
                pending_data = fixture("google_event_conference_pending")["conferenceData"]
                pending_data["createRequest"]["requestId"] = request_id
                event["conferenceData"] = pending_data
                conferences.append(meet_link(request_id))
                pending[body["id"]] = 1
            events[body["id"]] = event
            return httpx.Response(200, json=event)

        def get(request: httpx.Request, event_id: str) -> httpx.Response:
            if event_id in deleted:
                return httpx.Response(200, json=deleted[event_id])
            if event_id not in events:
                return httpx.Response(404, json={"error": {"code": 404, "message": "Not Found"}})
            event = events[event_id]
            if event_id in pending:
                if pending[event_id] == 0:  # Google has made it now
                    link = meet_link(event["conferenceData"]["createRequest"]["requestId"])
                    event.update(conferenceData=made(event["conferenceData"], link), hangoutLink=link)
                    del pending[event_id]
                else:
                    pending[event_id] -= 1
            return httpx.Response(200, json=event)

        def answer(event_id: str, email: str, response: AttendeeResponse) -> None:
            guest = next(a for a in events[event_id]["attendees"] if a["email"] == email)
            guest["responseStatus"] = RESPONSE_STATUS[response]

        def patch(request: httpx.Request, event_id: str) -> httpx.Response:
            if event_id not in events:
                return respond("google_error_410_deleted", 410)
            events[event_id] = {**events[event_id], **json.loads(request.content)}  # events.patch semantics
            return httpx.Response(200, json=events[event_id])

        def delete(request: httpx.Request, event_id: str) -> httpx.Response:
            event = events.pop(event_id, None)
            if event is None:
                return respond("google_error_410_deleted", 410)
            deleted[event_id] = {**event, "status": "cancelled"}
            return httpx.Response(204)

        page1, page2 = fixture("google_events_list_full_sync_page1"), fixture("google_events_list_full_sync_page2_last")

        def events_list(request: httpx.Request) -> httpx.Response:
            params = request.url.params
            if "syncToken" in params:
                if params["syncToken"] != page2["nextSyncToken"]:
                    return respond("google_error_410_full_sync_required", 410)
                return respond("google_events_list_incremental")
            if params.get("pageToken") == page1["nextPageToken"]:
                return respond("google_events_list_full_sync_page2_last")
            return respond("google_events_list_full_sync_page1")

        return Mocks(
            calendars=router.get(f"{API}/users/me/calendarList", name="calendars").mock(side_effect=calendar_list),
            create_event=router.post(EVENTS, name="create_event").mock(side_effect=insert),
            update_event=router.patch(url__regex=EVENT_URL, name="update_event").mock(side_effect=patch),
            delete_event=router.delete(
                url__regex=rf"{EVENTS}/(?P<event_id>[a-v0-9]+)(?=[?]|$)", name="delete_event"
            ).mock(side_effect=delete),
            feed=router.get(EVENTS, name="feed").mock(side_effect=events_list),
            read_event=router.get(url__regex=EVENT_URL, name="read_event").mock(side_effect=get),
            token=router.post(settings.google_token_url, name="token").mock(
                return_value=respond("google_oauth_error_invalid_grant", 400)
            ),
            events=events,
            conferences=conferences,
            answer=answer,
        )

    def close(self) -> None:
        return None
