"""Constants, fixture loading and MSAL credentials shared by the Microsoft connector tests."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import msal

from hub.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"

# The app of the fixtures: the id_token's ``aud`` and msal_auth_code_flow.json's client_id.
CLIENT_ID = "11112222-bbbb-3333-cccc-4444dddd5555"
CLIENT_SECRET = "hub~test~client~secret"
AUTHORITY = "https://login.microsoftonline.com/common"
DISCOVERY_URL = f"{AUTHORITY}/v2.0/.well-known/openid-configuration"
AUTHORIZE_URL = f"{AUTHORITY}/oauth2/v2.0/authorize"
TOKEN_URL = f"{AUTHORITY}/oauth2/v2.0/token"
GRAPH = "https://graph.microsoft.com/v1.0"
REDIRECT_URI = "https://hub.example.com/oauth/microsoft/callback"  # msal_auth_code_flow.json's

# entra_token_response.json: client_info is {"uid": ..., "utid": ...}; MSAL's home account id.
HOME_ACCOUNT_ID = "00000000-0000-0000-66f3-3332eca7ea81.9188040d-6c67-4c5b-b112-36a304b66dad"
REFRESH_TOKEN = "1.AXkA-exampleRefreshToken-AgABAwEAAADnfolhJpSnRYB1SVj-Hgd8AgDs_wUA9P8"
USER_ID = "8ee44408-0679-472c-bc2a-692812af3437"  # the user in the notification fixtures' resource
SUBSCRIPTION_ID = "7f105c7d-2dc5-4530-97cd-4e7ae6534c07"
CLIENT_STATE = "hub-cs-3c6e0b8a9c15224a8228b9a98ca1531d"
CALENDAR_ID = "AAMkAGI2TG93AAA="

# GET /me (user resource, Graph docs shape) for the account of the fixtures.
ME = {
    "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
    "id": USER_ID,
    "displayName": "Alice Example",
    "mail": "alice@contoso.com",
    "userPrincipalName": "alice@contoso.onmicrosoft.com",
}

# GET /me/calendars (calendar resource, Graph docs shape).
CALENDARS = {
    "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#me/calendars",
    "value": [
        {
            "id": CALENDAR_ID,
            "name": "Calendar",
            "color": "auto",
            "isDefaultCalendar": True,
            "changeKey": "nfZyf7VcrEKLNoU37KWlkQAAA0x0+w==",
            "canShare": True,
            "canViewPrivateItems": True,
            "canEdit": True,
            "owner": {"name": "Alice Example", "address": "alice@contoso.com"},
        },
        {
            "id": "AAMkAGI2TG94AAA=",
            "name": "United States holidays",
            "isDefaultCalendar": False,
            "canEdit": False,
            "owner": {"name": "Alice Example", "address": "alice@contoso.com"},
        },
    ],
}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def respond(name: str, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    """A response carrying fixture ``name`` verbatim."""
    return httpx.Response(
        status, content=fixture_bytes(name), headers={"Content-Type": "application/json", **(headers or {})}
    )


def respond_http(name: str) -> httpx.Response:
    """The response a ``*_http.json`` wrapper fixture describes (status, headers, body)."""
    wrapper = fixture(name)
    return httpx.Response(wrapper["status"], headers=wrapper["headers"], json=wrapper["body"])


def settings(**overrides: Any) -> Settings:
    return Settings(microsoft_client_id=CLIENT_ID, microsoft_client_secret=CLIENT_SECRET, **overrides)


def nonce_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode("ascii")).hexdigest()


def with_nonce(response: dict[str, Any], nonce: str) -> dict[str, Any]:
    """``response`` with its id_token's ``nonce`` claim set to MSAL's hash of the flow's ``nonce``.

    The shared fixtures are not consistent with each other here: entra_token_response.json's
    id_token carries a nonce that is not the hash of msal_auth_code_flow.json's ``nonce`` (and
    MSAL refuses such a token). Only that one claim is rewritten; every other byte stays.
    """
    header, payload, signature = response["id_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["nonce"] = nonce_hash(nonce)
    encoded = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return {**response, "id_token": f"{header}.{encoded}.{signature}"}


def credentials(*, expired: bool = False) -> dict[str, Any]:
    """Credentials as ``finish`` stores them: MSAL's cache after redeeming entra_token_response.json.

    ``expired``: the tokens were obtained long enough ago that the access token has expired, so
    using them needs a refresh.
    """
    cache = msal.SerializableTokenCache()
    response = fixture("entra_token_response")
    obtained = time.time() - (response["expires_in"] + 60 if expired else 0)
    cache.add(
        {
            "client_id": CLIENT_ID,
            "scope": response["scope"].split(),
            "token_endpoint": TOKEN_URL,
            "environment": "login.microsoftonline.com",
            "response": response,
            "grant_type": "authorization_code",
        },
        now=obtained,
    )
    return {"token_cache": cache.serialize(), "home_account_id": HOME_ACCOUNT_ID}


def form(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode()))
