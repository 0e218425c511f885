"""Where the OAuth callback may send the browser: only to allowed origins, checked at authorize.

Authorize builds the provider's consent URL without calling the provider, so these servers need
Google's client id and secret only to count as configured."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec
import pytest
from sqlalchemy import func, select

from hub.app import create_app
from hub.db import Database
from hub.db.tables import OAuthState
from hub.settings import Settings, SettingsError
from tests.integration.helpers import assert_problem
from tests.support.servers import LiveServer
from tests.support.tenants import Tenant

PUBLIC_URL = "https://hub.example.test"


def _server(settings: Settings, db: Database, **changes: Any) -> LiveServer:
    configured = msgspec.structs.replace(
        settings, public_url=PUBLIC_URL, google_client_id="client-id", google_client_secret="client-secret", **changes
    )
    return LiveServer(create_app(configured, database=db))


@pytest.fixture(scope="module")
def listed(settings: Settings, db: Database) -> Iterator[LiveServer]:
    """HUB_OAUTH_REDIRECT_ORIGINS=https://app.example.com,http://localhost:3000"""
    origins = ("https://app.example.com", "http://localhost:3000")
    with _server(settings, db, oauth_redirect_origins=origins) as server:
        yield server


@pytest.fixture(scope="module")
def unset(settings: Settings, db: Database) -> Iterator[LiveServer]:
    with _server(settings, db) as server:
        yield server


@pytest.fixture(scope="module")
def dev(settings: Settings, db: Database) -> Iterator[LiveServer]:
    """As ``hub dev`` runs: any http://localhost or 127.0.0.1 port besides HUB_PUBLIC_URL's origin."""
    with _server(settings, db, oauth_redirect_allow_localhost=True) as server:
        yield server


def authorize(server: LiveServer, db: Database, redirect_uri: str) -> tuple[httpx.Response, Tenant]:
    tenant = Tenant(server.url, db)
    user = tenant.create_user()
    response = tenant.client.post(
        f"/v1/users/{user['id']}/connections/google/authorize", json={"redirect_uri": redirect_uri}
    )
    return response, tenant


def pending_links(db: Database, tenant: Tenant) -> int:
    with db.read() as session:
        count = session.scalar(
            select(func.count()).select_from(OAuthState).where(OAuthState.organization_id == tenant.organization_id)
        )
    return int(count or 0)


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://app.example.com/after-link",
        "https://APP.example.com:443/after-link?tab=calendars",
        "http://localhost:3000/linked",
    ],
)
def test_a_listed_origin_is_allowed(listed: LiveServer, db: Database, redirect_uri: str) -> None:
    response, tenant = authorize(listed, db, redirect_uri)
    assert response.status_code == 200, response.text
    assert pending_links(db, tenant) == 1


@pytest.mark.parametrize(
    ("redirect_uri", "says"),
    [
        ("https://evil.example/steal", "https://evil.example is not an allowed origin"),
        ("https://app.example.com.evil.example/x", "https://app.example.com.evil.example is not an allowed origin"),
        ("https://app.example.com:8443/x", "https://app.example.com:8443 is not an allowed origin"),
        ("http://app.example.com/after-link", "plain http:// is allowed only for localhost"),
        ("http://localhost:4000/linked", "http://localhost:4000 is not an allowed origin"),
        ("https://hub.example.test/anything", "https://hub.example.test is not an allowed origin"),
    ],
)
def test_any_other_origin_is_refused_at_authorize(
    listed: LiveServer, db: Database, redirect_uri: str, says: str
) -> None:
    response, tenant = authorize(listed, db, redirect_uri)
    problem = assert_problem(response, 422, "redirect_uri_not_allowed")
    assert problem["title"] == "Redirect URI not allowed"
    assert says in problem["detail"]
    assert problem["errors"][0]["field"] == "redirect_uri"
    if "origin" in says:
        assert problem["detail"].endswith("the operator lists them in HUB_OAUTH_REDIRECT_ORIGINS")
    assert pending_links(db, tenant) == 0  # nothing the callback could redirect to


@pytest.mark.parametrize(
    "redirect_uri",
    ["https://app.example.com@evil.example/x", "https://user:pw@app.example.com/x", "app.example.com/x", "https://x#f"],
)
def test_malformed_redirect_uris_are_validation_errors(listed: LiveServer, db: Database, redirect_uri: str) -> None:
    response, _tenant = authorize(listed, db, redirect_uri)
    assert_problem(response, 422, "validation_failed")


def test_unset_allows_only_the_public_urls_origin(unset: LiveServer, db: Database) -> None:
    allowed, _tenant = authorize(unset, db, f"{PUBLIC_URL}/after-link")
    assert allowed.status_code == 200, allowed.text

    for other in ("https://app.example.com/after-link", "http://localhost:3000/linked", "http://127.0.0.1:5173/"):
        refused, _tenant = authorize(unset, db, other)
        problem = assert_problem(refused, 422, "redirect_uri_not_allowed")
        assert (
            "HUB_OAUTH_REDIRECT_ORIGINS (unset, so only the origin of HUB_PUBLIC_URL is allowed)" in problem["detail"]
        )


@pytest.mark.parametrize(
    "redirect_uri", ["http://localhost:3000/linked", "http://127.0.0.1:5173/", "http://localhost/x", PUBLIC_URL]
)
def test_hub_dev_allows_any_localhost_port(dev: LiveServer, db: Database, redirect_uri: str) -> None:
    response, _tenant = authorize(dev, db, redirect_uri)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("redirect_uri", ["https://app.example.com/after-link", "http://localhost.evil.example/"])
def test_hub_dev_still_refuses_other_origins(dev: LiveServer, db: Database, redirect_uri: str) -> None:
    response, _tenant = authorize(dev, db, redirect_uri)
    assert_problem(response, 422, "redirect_uri_not_allowed")


def test_the_callback_redirects_only_to_the_allowed_redirect_uri(listed: LiveServer, db: Database) -> None:
    response, _tenant = authorize(listed, db, "https://app.example.com/after-link")
    state = parse_qs(urlsplit(response.json()["authorization_url"]).query)["state"][0]
    denied = httpx.get(f"{listed.url}/oauth/google/callback", params={"state": state, "error": "access_denied"})
    assert denied.status_code == 302
    assert denied.headers["location"] == "https://app.example.com/after-link?error=access_denied"


# --- the setting ---------------------------------------------------------------------------------


def test_the_setting_is_parsed_once_and_normalised() -> None:
    env = {
        "HUB_OAUTH_REDIRECT_ORIGINS": " HTTPS://App.Example.com:443/ , http://localhost:3000,https://[2001:db8::1]:8443"
    }
    settings = Settings.from_env(env)
    assert settings.oauth_redirect_origins == (
        "https://app.example.com",
        "http://localhost:3000",
        "https://[2001:db8::1]:8443",
    )
    assert Settings.from_env({}).allowed_redirect_origins == frozenset({"http://127.0.0.1:8000"})
    assert Settings.from_env({"HUB_PUBLIC_URL": "https://hub.example.com/base"}).allowed_redirect_origins == frozenset(
        {"https://hub.example.com"}
    )


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("app.example.com", "is not an origin"),
        ("https://app.example.com/after-link", "is not an origin"),
        ("https://app.example.com?x=1", "is not an origin"),
        ("https://user@app.example.com", "is not an origin"),
        ("ftp://app.example.com", "is not an origin"),
        ("https://app.example.com:99999", "is not an origin"),
        ("http://app.example.com", "plain http://"),
    ],
)
def test_a_bad_setting_stops_start_up_naming_the_variable(value: str, says: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"HUB_OAUTH_REDIRECT_ORIGINS": f"https://ok.example.com,{value}"})
    assert str(caught.value).startswith(f"HUB_OAUTH_REDIRECT_ORIGINS: {value!r} ")
    assert says in str(caught.value)


def test_the_openapi_document_lists_the_code(unset: LiveServer) -> None:
    document = httpx.get(f"{unset.url}/schema/openapi.json", timeout=30).json()
    operation = document["paths"]["/v1/users/{user_id}/connections/{provider}/authorize"]["post"]
    assert "redirect_uri_not_allowed" in operation["responses"]["422"]["description"]
