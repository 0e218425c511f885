"""Linking a Google account (PROTOCOLS.md C): the authorization URL, the code exchange, the
id_token, refresh through google-auth over httpx, and revocation."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec
import pytest
import respx

from connectors.google.spec import build
from hub import clock
from hub.connectors import Connector, LinkedAccount
from hub.errors import PermanentError, ReauthRequired, TransientError
from tests.connectors.google.helpers import (
    API,
    CLIENT_ID,
    CLIENT_SECRET,
    ID_TOKEN_ISSUED,
    REDIRECT_URI,
    REVOKE_URL,
    TOKEN_URL,
    expired_credentials,
    fixture,
    fixture_text,
    respond,
    settings,
)
from tests.connectors.shared_suite.harness import MemoryStore

STATE = "st_9f86d081884c7d659a2feaa0c55ad015"
CODE = "4/0AeanS0bExampleAuthCode"


@pytest.fixture
def at_issue_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hub's clock one minute after the fixture id_token was issued (it is long expired now)."""
    monkeypatch.setattr(clock, "utcnow", lambda: ID_TOKEN_ISSUED + timedelta(minutes=1))


def challenge_of(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def finish(connector: Connector, flow: dict[str, str], **params: str) -> LinkedAccount:
    return connector.oauth.finish(flow=flow, params={"state": STATE, **params}, redirect_uri=REDIRECT_URI)


def test_the_authorization_url_asks_for_offline_narrow_access_with_pkce(connector: Connector) -> None:
    url, flow = connector.oauth.begin(redirect_uri=REDIRECT_URI, state=STATE)
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://accounts.google.com/o/oauth2/v2/auth"
    # The fixture's parameter set, with calendar.calendarlist.readonly where it has calendar.freebusy.
    documented = parse_qs(urlsplit(fixture_text("google_oauth_authorization_url.txt").splitlines()[3]).query)
    assert set(query) == set(documented)
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == REDIRECT_URI
    assert query["response_type"] == "code"
    assert query["access_type"] == "offline"
    assert query["prompt"] == "consent"
    assert query["include_granted_scopes"] == "true"
    assert query["state"] == STATE
    assert query["scope"].split() == [
        "openid",
        "email",
        "https://www.googleapis.com/auth/calendar.events",
        "https://www.googleapis.com/auth/calendar.calendarlist.readonly",
    ]
    assert "%20" in parts.query  # scopes space-delimited and encoded as in the fixture
    assert "+" not in parts.query
    verifier = flow["code_verifier"]
    assert 43 <= len(verifier) <= 128
    assert set(verifier) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] == challenge_of(verifier)


def test_every_flow_gets_a_fresh_verifier(connector: Connector) -> None:
    verifiers = {connector.oauth.begin(redirect_uri=REDIRECT_URI, state=STATE)[1]["code_verifier"] for _ in range(3)}
    assert len(verifiers) == 3


def test_the_fixture_challenge_is_computed_the_way_hub_computes_it() -> None:
    lines = fixture_text("google_oauth_authorization_url.txt").splitlines()
    verifier = lines[1].split("code_verifier=")[1]
    challenge = lines[2].split("=BASE64URL-NOPAD(SHA256(code_verifier))=")[1]
    assert challenge_of(verifier) == challenge


@pytest.mark.usefixtures("at_issue_time")
def test_the_code_exchange_links_the_account_from_the_id_token(connector: Connector, google: respx.MockRouter) -> None:
    token = google.post(TOKEN_URL, name="token").mock(return_value=respond("google_oauth_token_response_with_id_token"))
    _, flow = connector.oauth.begin(redirect_uri=REDIRECT_URI, state=STATE)

    account = finish(connector, flow, code=CODE)

    sent = parse_qs(token.calls.last.request.content.decode())
    assert sent == {
        "code": [CODE],
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
        "redirect_uri": [REDIRECT_URI],
        "grant_type": ["authorization_code"],
        "code_verifier": [flow["code_verifier"]],
    }
    assert token.calls.last.request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert account.account_id == "110169484474386276334"
    assert account.account_email == "alice@example.com"
    assert "https://www.googleapis.com/auth/calendar.events" in account.scopes
    body = fixture("google_oauth_token_response_with_id_token")
    assert account.credentials["access_token"] == body["access_token"]
    assert account.credentials["refresh_token"] == body["refresh_token"]
    assert account.credentials["scopes"] == body["scope"].split()
    assert account.credentials["expiry"] == (clock.utcnow() + timedelta(seconds=3599)).isoformat()


@pytest.mark.usefixtures("at_issue_time")
def test_without_an_email_claim_the_primary_calendar_id_is_the_address(
    connector: Connector, google: respx.MockRouter
) -> None:
    body = fixture("google_oauth_token_response_with_id_token")
    header, payload, signature = body["id_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    del claims["email"]
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    google.post(TOKEN_URL, name="token").mock(
        return_value=httpx.Response(200, json={**body, "id_token": f"{header}.{payload}.{signature}"})
    )
    primary = google.get(f"{API}/users/me/calendarList/primary", name="primary").mock(
        return_value=httpx.Response(200, json=fixture("google_calendar_list")["items"][0])
    )

    account = finish(connector, {"code_verifier": "v" * 43, "state": STATE}, code=CODE)

    assert account.account_email == "alice@example.com"
    assert primary.calls.last.request.headers["authorization"] == f"Bearer {body['access_token']}"


def test_an_expired_id_token_is_refused(connector: Connector, google: respx.MockRouter) -> None:
    # Hub's clock is now, long after the fixture id_token expired.
    google.post(TOKEN_URL, name="token").mock(return_value=respond("google_oauth_token_response_with_id_token"))
    with pytest.raises(PermanentError) as raised:
        finish(connector, {"code_verifier": "v" * 43, "state": STATE}, code=CODE)
    assert raised.value.code == "invalid_id_token"
    assert raised.value.message == "id_token rejected: expiry"


@pytest.mark.usefixtures("at_issue_time")
def test_an_id_token_for_another_client_is_refused(google: respx.MockRouter) -> None:
    other = build(msgspec.structs.replace(settings(), google_client_id="999-other.apps.googleusercontent.com"))
    google.post(TOKEN_URL, name="token").mock(return_value=respond("google_oauth_token_response_with_id_token"))
    with pytest.raises(PermanentError) as raised:
        finish(other, {"code_verifier": "v" * 43, "state": STATE}, code=CODE)
    assert raised.value.code == "invalid_id_token"
    assert raised.value.message == "id_token rejected: audience, authorized party"


def test_a_denied_consent_is_a_permanent_access_denied(connector: Connector, google: respx.MockRouter) -> None:
    error_redirect = fixture_text("google_oauth_authorization_url.txt").splitlines()[-1]
    params = {name: values[0] for name, values in parse_qs(urlsplit(error_redirect).query).items()}
    with pytest.raises(PermanentError) as raised:
        connector.oauth.finish(
            flow={"code_verifier": "v" * 43, "state": STATE}, params=params, redirect_uri=REDIRECT_URI
        )
    assert raised.value.code == "access_denied"
    assert not google.calls  # nothing was exchanged


def test_a_callback_for_another_flow_is_refused(connector: Connector, google: respx.MockRouter) -> None:
    with pytest.raises(PermanentError) as raised:
        connector.oauth.finish(
            flow={"code_verifier": "v" * 43, "state": STATE},
            params={"state": "st_someone_else", "code": CODE},
            redirect_uri=REDIRECT_URI,
        )
    assert raised.value.code == "oauth_state_mismatch"
    assert not google.calls


def test_a_bad_or_reused_code_is_a_permanent_invalid_grant(connector: Connector, google: respx.MockRouter) -> None:
    google.post(TOKEN_URL, name="token").mock(return_value=respond("google_oauth_error_invalid_grant_bad_code", 400))
    with pytest.raises(PermanentError) as raised:
        finish(connector, {"code_verifier": "v" * 43, "state": STATE}, code=CODE)
    assert (raised.value.code, raised.value.provider_code) == ("oauth_code_invalid", "invalid_grant")


def test_a_grant_without_calendar_events_is_refused(connector: Connector, google: respx.MockRouter) -> None:
    # The documented sample grants drive.metadata.readonly and calendar.readonly only.
    google.post(TOKEN_URL, name="token").mock(return_value=respond("google_oauth_token_response"))
    with pytest.raises(PermanentError) as raised:
        finish(connector, {"code_verifier": "v" * 43, "state": STATE}, code=CODE)
    assert raised.value.code == "insufficient_scope_granted"


def test_an_expired_token_is_refreshed_through_google_auth_and_saved(
    connector: Connector, google: respx.MockRouter
) -> None:
    token = google.post(TOKEN_URL, name="token").mock(return_value=respond("google_oauth_refresh_response"))
    calendars = google.get(f"{API}/users/me/calendarList", name="calendars").mock(
        return_value=respond("google_calendar_list")
    )
    store = MemoryStore(expired_credentials())
    refresh_token = store.credentials["refresh_token"]

    connector.calendars.list_calendars(store)

    sent = parse_qs(token.calls.last.request.content.decode())
    assert sent["grant_type"] == ["refresh_token"]
    assert sent["refresh_token"] == [refresh_token]
    assert sent["client_id"] == [CLIENT_ID]
    assert sent["client_secret"] == [CLIENT_SECRET]
    assert "scope" not in sent  # no narrowing: the grant keeps what the user consented to
    (saved,) = store.saved
    assert saved["access_token"] == "1/fFAGRNJru1FTz70BzhT3Zg"
    assert saved["refresh_token"] == refresh_token  # Google's refresh answer carries none: keep ours
    assert saved["scopes"] == expired_credentials()["scopes"]
    remaining = datetime.fromisoformat(saved["expiry"]) - clock.utcnow()
    assert timedelta(seconds=3900) < remaining <= timedelta(seconds=3920)
    assert calendars.calls.last.request.headers["authorization"] == "Bearer 1/fFAGRNJru1FTz70BzhT3Zg"


def test_a_revoked_refresh_token_requires_reauth(connector: Connector, google: respx.MockRouter) -> None:
    google.post(TOKEN_URL, name="token").mock(return_value=respond("google_oauth_error_invalid_grant", 400))
    calendars = google.get(f"{API}/users/me/calendarList", name="calendars")
    store = MemoryStore(expired_credentials())
    with pytest.raises(ReauthRequired) as raised:
        connector.calendars.list_calendars(store)
    assert (raised.value.code, raised.value.provider_code) == ("reauth_required", "invalid_grant")
    assert not calendars.called
    assert store.saved == []


def test_a_401_refreshes_once_and_retries_once(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    google.post(TOKEN_URL, name="token").mock(return_value=respond("google_oauth_refresh_response"))
    calendars = google.get(f"{API}/users/me/calendarList", name="calendars").mock(
        side_effect=[respond("google_error_401_invalid_credentials", 401), respond("google_calendar_list")]
    )
    assert len(connector.calendars.list_calendars(store)) == 3
    first, second = (call.request.headers["authorization"] for call in calendars.calls)
    assert first != second == "Bearer 1/fFAGRNJru1FTz70BzhT3Zg"


def test_a_401_after_a_fresh_token_requires_reauth(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    token = google.post(TOKEN_URL, name="token").mock(return_value=respond("google_oauth_refresh_response"))
    calendars = google.get(f"{API}/users/me/calendarList", name="calendars").mock(
        return_value=respond("google_error_401_invalid_credentials", 401)
    )
    with pytest.raises(ReauthRequired):
        connector.calendars.list_calendars(store)
    assert token.call_count == 1
    assert calendars.call_count == 2


def test_revoke_posts_the_refresh_token(connector: Connector, google: respx.MockRouter, store: MemoryStore) -> None:
    revoke = google.post(REVOKE_URL, name="revoke").mock(return_value=httpx.Response(200))
    connector.oauth.revoke(store)
    request = revoke.calls.last.request
    assert request.url.params["token"] == store.credentials["refresh_token"]
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"


def test_revoking_an_already_revoked_grant_is_fine(
    connector: Connector, google: respx.MockRouter, store: MemoryStore
) -> None:
    google.post(REVOKE_URL, name="revoke").mock(
        return_value=httpx.Response(
            400, json={"error": "invalid_token", "error_description": "Token expired or revoked"}
        )
    )
    connector.oauth.revoke(store)


def test_an_unreachable_token_endpoint_is_transient(connector: Connector, google: respx.MockRouter) -> None:
    google.post(TOKEN_URL, name="token").mock(side_effect=httpx.ConnectError("connection refused"))
    with pytest.raises(TransientError) as raised:
        connector.calendars.list_calendars(MemoryStore(expired_credentials()))
    assert raised.value.code == "network_error"


def test_a_refused_client_is_a_configuration_problem_not_a_reauth(
    connector: Connector, google: respx.MockRouter
) -> None:
    google.post(TOKEN_URL, name="token").mock(
        return_value=httpx.Response(401, json={"error": "invalid_client", "error_description": "Unauthorized"})
    )
    with pytest.raises(PermanentError) as raised:
        connector.calendars.list_calendars(MemoryStore(expired_credentials()))
    assert (raised.value.code, raised.value.provider_code) == ("provider_misconfigured", "invalid_client")
