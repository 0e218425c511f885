"""The Google connector's contract harness (``tests/connectors/shared_suite/harness.py``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import respx

from connectors.google.spec import build
from hub.connectors import Connector, ProviderCalendar, ResyncRequired
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

    def install(self, router: respx.Router, settings: Settings) -> Mocks:
        events: dict[str, Any] = {}
        list_answers = [respond("google_error_403_rate_limit_exceeded", 403)]

        def calendar_list(request: httpx.Request) -> httpx.Response:
            return list_answers.pop(0) if list_answers else respond("google_calendar_list")

        def insert(request: httpx.Request) -> httpx.Response:
            body = json.loads(request.content)
            if body["id"] in events:
                return respond("google_error_409_duplicate", 409)
            events[body["id"]] = {"kind": "calendar#event", "status": "confirmed", **body}
            return httpx.Response(200, json=events[body["id"]])

        def patch(request: httpx.Request, event_id: str) -> httpx.Response:
            if event_id not in events:
                return respond("google_error_410_deleted", 410)
            events[event_id] = {**events[event_id], **json.loads(request.content)}  # events.patch semantics
            return httpx.Response(200, json=events[event_id])

        def delete(request: httpx.Request, event_id: str) -> httpx.Response:
            if events.pop(event_id, None) is None:
                return respond("google_error_410_deleted", 410)
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
            token=router.post(settings.google_token_url, name="token").mock(
                return_value=respond("google_oauth_error_invalid_grant", 400)
            ),
            events=events,
        )

    def close(self) -> None:
        return None
