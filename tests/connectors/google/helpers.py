"""Constants, fixture loading and credentials shared by the Google connector tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from hub import clock
from hub.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"

# The OAuth client of the fixtures (google_oauth_token_request.txt; the id_token's aud/azp).
CLIENT_ID = "1234567890-abc123def456ghi789jkl012mno345pq.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-exampleClientSecret"
REDIRECT_URI = "https://hub.example.com/oauth/google/callback"

API = "https://www.googleapis.com/calendar/v3"
TOKEN_URL = "https://oauth2.googleapis.com/token"
REVOKE_URL = "https://oauth2.googleapis.com/revoke"
CALENDAR_ID = "alice@example.com"
EVENTS_URL = f"{API}/calendars/alice%40example.com/events"

# google_oauth_token_response_with_id_token.json: the id_token's iat (2026-03-02T10:15:31Z).
ID_TOKEN_ISSUED = datetime.fromtimestamp(1772446531, UTC)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def respond(name: str, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    """A response carrying fixture ``name`` verbatim."""
    return httpx.Response(
        status,
        content=(FIXTURES / f"{name}.json").read_bytes(),
        headers={"Content-Type": "application/json; charset=UTF-8", **(headers or {})},
    )


def settings() -> Settings:
    return Settings(google_client_id=CLIENT_ID, google_client_secret=CLIENT_SECRET)


def valid_credentials() -> dict[str, Any]:
    """As ``finish`` stores them; the access token has an hour left."""
    return {
        "access_token": "ya29.a0AeXRPp5ExampleAccessToken",
        "refresh_token": "1//09ExampleRefreshTokenCgYIARAAGAkSNwF",
        "expiry": (clock.utcnow() + timedelta(hours=1)).isoformat(),
        "scopes": ["openid", "https://www.googleapis.com/auth/calendar.events"],
    }


def expired_credentials() -> dict[str, Any]:
    return {**valid_credentials(), "expiry": (clock.utcnow() - timedelta(minutes=1)).isoformat()}
