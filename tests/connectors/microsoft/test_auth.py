"""Linking a Microsoft account and keeping its tokens (PROTOCOLS F): MSAL over httpx, OpenID
discovery of the authority, the auth-code flow with PKCE, code redemption, silent refresh and
its errors (entra_error_*.json), and revocation."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec
import pytest
import respx

from connectors.microsoft.auth import SCOPES, MicrosoftOAuth, MicrosoftTokens
from hub.connectors import Connector
from hub.errors import PermanentError, ReauthRequired, TransientError
from tests.connectors.microsoft.helpers import (
    AUTHORIZE_URL,
    CLIENT_ID,
    CLIENT_SECRET,
    GRAPH,
    HOME_ACCOUNT_ID,
    ME,
    REDIRECT_URI,
    REFRESH_TOKEN,
    TOKEN_URL,
    USER_ID,
    credentials,
    fixture,
    form,
    respond,
    with_nonce,
)
from tests.connectors.shared_suite.harness import MemoryStore

STATE = "st_4f1c2b9e0a7d48e6b3c5d9f8a1e2c3b4"
RESERVED = {"openid", "profile", "offline_access"}


def challenge_of(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def tokens() -> MicrosoftTokens:
    return MicrosoftTokens(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        authority="https://login.microsoftonline.com/common",
        http=httpx.Client(),
    )


def callback_flow() -> dict[str, object]:
    """msal_auth_code_flow.json, the flow core kept since ``begin``; its state is the fixture's."""
    return fixture("msal_auth_code_flow")


def redeemed(flow: dict[str, object]) -> httpx.Response:
    """The token endpoint's answer to this flow's code: entra_token_response.json (nonce aligned)."""
    return httpx.Response(200, json=with_nonce(fixture("entra_token_response"), str(flow["nonce"])))


# --- the authorization URL ---------------------------------------------------------------------


def test_the_authorization_url_carries_pkce_the_state_and_the_graph_scopes(
    microsoft: respx.MockRouter, connector: Connector
) -> None:
    url, flow = connector.oauth.begin(redirect_uri=REDIRECT_URI, state=STATE)

    parts = urlsplit(url)
    query = query_of(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == AUTHORIZE_URL  # from the discovery document
    assert query["client_id"] == CLIENT_ID
    assert query["response_type"] == "code"
    assert query["redirect_uri"] == REDIRECT_URI
    assert query["state"] == STATE  # core's state, passed through untouched
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] == challenge_of(flow["code_verifier"])
    assert query["nonce"] == hashlib.sha256(flow["nonce"].encode()).hexdigest()
    assert set(query["scope"].split()) == {"Calendars.ReadWrite", "User.Read"} | RESERVED  # MSAL adds the reserved
    assert flow["state"] == STATE
    assert set(flow) >= set(fixture("msal_auth_code_flow"))  # the shape of msal_auth_code_flow.json
    assert msgspec.json.decode(msgspec.json.encode(flow)) == flow  # core stores it as JSON


def test_hub_never_passes_the_reserved_scopes_which_msal_refuses(microsoft: respx.MockRouter) -> None:
    assert not RESERVED & set(SCOPES)
    greedy = MicrosoftTokens(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        authority="https://login.microsoftonline.com/common",
        http=httpx.Client(),
        scopes=[*SCOPES, "offline_access"],
    )
    with pytest.raises(ValueError, match="reserved"):
        greedy.begin(redirect_uri=REDIRECT_URI, state=STATE)


def test_discovery_reads_the_authority_document_once_and_no_instance_discovery(
    microsoft: respx.MockRouter, connector: Connector
) -> None:
    for _ in range(3):
        connector.oauth.begin(redirect_uri=REDIRECT_URI, state=STATE)
    # {authority}/v2.0/.well-known/openid-configuration, once; nothing else (every call must be mocked)
    assert microsoft.routes["discovery"].call_count == 1
    assert len(microsoft.calls) == 1


def test_a_national_cloud_or_local_authority_is_discovered_at_its_own_address() -> None:
    authority = "https://login.microsoftonline.us/contoso.onmicrosoft.com"
    document = fixture("entra_openid_configuration_common")
    document.update(
        authorization_endpoint=f"{authority}/oauth2/v2.0/authorize", token_endpoint=f"{authority}/oauth2/v2.0/token"
    )
    with respx.mock(assert_all_mocked=True) as router:
        route = router.get(f"{authority}/v2.0/.well-known/openid-configuration").respond(json=document)
        flow = MicrosoftTokens(
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, authority=authority, http=httpx.Client()
        ).begin(redirect_uri=REDIRECT_URI, state=STATE)
    assert route.called
    assert flow["auth_uri"].startswith(f"{authority}/oauth2/v2.0/authorize?")


# --- the callback: redeeming the code ----------------------------------------------------------


def test_the_code_is_redeemed_with_the_pkce_verifier_and_the_account_is_read(
    microsoft: respx.MockRouter, connector: Connector
) -> None:
    flow = callback_flow()
    token = microsoft.post(TOKEN_URL, name="token").mock(return_value=redeemed(flow))
    me = microsoft.get(f"{GRAPH}/me", name="me").respond(json=ME)

    account = connector.oauth.finish(
        flow=flow, params={"code": "0.AXkA-exampleCode", "state": flow["state"]}, redirect_uri=REDIRECT_URI
    )

    sent = form(token.calls.last.request)
    assert sent["grant_type"] == "authorization_code"
    assert sent["code"] == "0.AXkA-exampleCode"
    assert sent["code_verifier"] == flow["code_verifier"]
    assert sent["redirect_uri"] == REDIRECT_URI
    assert "Calendars.ReadWrite" in sent["scope"].split()
    assert (sent["client_id"], sent["client_secret"]) == (CLIENT_ID, CLIENT_SECRET)  # ENTRA's redemption form
    assert me.calls.last.request.headers["authorization"] == f"Bearer {fixture('entra_token_response')['access_token']}"

    assert account.account_id == USER_ID  # Graph's user id: the one in notification resources
    assert account.account_email == "alice@contoso.com"
    assert set(account.scopes) == {"Calendars.ReadWrite", "User.Read", "profile", "openid", "email"}
    assert account.credentials["home_account_id"] == HOME_ACCOUNT_ID
    assert flow["claims_challenge"] is None
    assert "claims_challenge" in flow

    # the stored credentials give the redeemed token without another call to the token endpoint
    store = MemoryStore(account.credentials)
    access = MicrosoftTokens(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        authority="https://login.microsoftonline.com/common",
        http=httpx.Client(),
    ).access_token(store)
    assert access == fixture("entra_token_response")["access_token"]
    assert token.call_count == 1
    assert store.saved == []


def test_without_a_profile_the_id_token_names_the_account(microsoft: respx.MockRouter) -> None:
    flow = callback_flow()
    microsoft.post(TOKEN_URL).mock(return_value=redeemed(flow))
    account = MicrosoftOAuth(tokens()).finish(
        flow=flow, params={"code": "0.AXkA-exampleCode", "state": flow["state"]}, redirect_uri=REDIRECT_URI
    )
    assert account.account_id == "00000000-0000-0000-66f3-3332eca7ea81"  # oid
    assert account.account_email == "alice@contoso.com"  # preferred_username


def test_an_id_token_issued_for_another_sign_in_is_refused(microsoft: respx.MockRouter, connector: Connector) -> None:
    # entra_token_response.json verbatim: its nonce is not the hash of this flow's nonce.
    flow = callback_flow()
    microsoft.post(TOKEN_URL).mock(return_value=respond("entra_token_response"))
    with pytest.raises(PermanentError) as caught:
        connector.oauth.finish(flow=flow, params={"code": "c", "state": flow["state"]}, redirect_uri=REDIRECT_URI)
    assert caught.value.code == "oauth_nonce_mismatch"


def test_a_callback_with_another_state_is_refused_before_any_call(
    microsoft: respx.MockRouter, connector: Connector
) -> None:
    token = microsoft.post(TOKEN_URL, name="token")
    with pytest.raises(PermanentError) as caught:
        connector.oauth.finish(flow=callback_flow(), params={"code": "c", "state": "forged"}, redirect_uri=REDIRECT_URI)
    assert caught.value.code == "oauth_state_mismatch"
    assert not token.called


def test_a_refused_consent_is_a_permanent_error_with_the_providers_code(
    microsoft: respx.MockRouter, connector: Connector
) -> None:
    flow = callback_flow()
    token = microsoft.post(TOKEN_URL, name="token")
    params = {
        "error": "access_denied",
        "error_description": "AADSTS65004: User declined to consent.",
        "state": flow["state"],
    }
    with pytest.raises(PermanentError) as caught:
        connector.oauth.finish(flow=flow, params=params, redirect_uri=REDIRECT_URI)
    assert caught.value.code == "access_denied"
    assert not token.called


def test_an_expired_code_is_invalid_grant_at_link_time(microsoft: respx.MockRouter, connector: Connector) -> None:
    flow = callback_flow()
    microsoft.post(TOKEN_URL).mock(return_value=respond("entra_error_invalid_grant_70008", 400))
    with pytest.raises(PermanentError) as caught:
        connector.oauth.finish(flow=flow, params={"code": "old", "state": flow["state"]}, redirect_uri=REDIRECT_URI)
    assert not isinstance(caught.value, ReauthRequired)
    assert (caught.value.code, caught.value.provider_code) == ("oauth_code_invalid", "invalid_grant")
    assert "AADSTS70008" in caught.value.message


# --- access tokens for calls: silent refresh -------------------------------------------------------


def test_a_cached_access_token_needs_no_call(microsoft: respx.MockRouter) -> None:
    store = MemoryStore(credentials())
    assert tokens().access_token(store) == fixture("entra_token_response")["access_token"]
    assert store.saved == []


def test_an_expired_access_token_is_refreshed_and_the_new_cache_saved(microsoft: respx.MockRouter) -> None:
    renewed = {**fixture("entra_token_response"), "access_token": "eyJ.renewed.sig", "refresh_token": "1.AXkA-rotated"}
    token = microsoft.post(TOKEN_URL, name="token").respond(json=renewed)
    store = MemoryStore(credentials(expired=True))

    assert tokens().access_token(store) == "eyJ.renewed.sig"

    sent = form(token.calls.last.request)
    assert sent["grant_type"] == "refresh_token"
    assert sent["refresh_token"] == REFRESH_TOKEN
    assert {"Calendars.ReadWrite", "User.Read", "offline_access"} <= set(sent["scope"].split())
    assert len(store.saved) == 1  # Entra rotates refresh tokens: the new one must be kept
    assert "1.AXkA-rotated" in store.saved[0]["token_cache"]
    assert store.saved[0]["home_account_id"] == HOME_ACCOUNT_ID
    assert tokens().access_token(store) == "eyJ.renewed.sig"  # from the saved cache, no second call
    assert token.call_count == 1


@pytest.mark.parametrize(
    ("name", "aadsts"),
    [
        ("entra_error_invalid_grant_70008", "AADSTS70008"),
        ("entra_error_invalid_grant_700082", "AADSTS700082"),
        ("entra_error_invalid_grant_50173", "AADSTS50173"),
    ],
)
def test_invalid_grant_on_refresh_requires_reauth(microsoft: respx.MockRouter, name: str, aadsts: str) -> None:
    microsoft.post(TOKEN_URL).mock(return_value=respond(name, 400))
    with pytest.raises(ReauthRequired) as caught:
        tokens().access_token(MemoryStore(credentials(expired=True)))
    assert (caught.value.code, caught.value.provider_code) == ("reauth_required", "invalid_grant")
    assert aadsts in caught.value.message


@pytest.mark.parametrize("error", ["interaction_required", "consent_required"])
def test_interaction_or_consent_required_on_refresh_requires_reauth(microsoft: respx.MockRouter, error: str) -> None:
    body = {"error": error, "error_description": "AADSTS50076: ...", "error_codes": [50076]}
    microsoft.post(TOKEN_URL).respond(400, json=body)
    with pytest.raises(ReauthRequired) as caught:
        tokens().access_token(MemoryStore(credentials(expired=True)))
    assert (caught.value.code, caught.value.provider_code) == ("reauth_required", error)


def test_a_wrong_client_secret_is_permanent_not_reauth(microsoft: respx.MockRouter) -> None:
    body = {
        "error": "invalid_client",
        "error_description": "AADSTS7000215: Invalid client secret provided.",
        "error_codes": [7000215],
    }
    microsoft.post(TOKEN_URL).respond(401, json=body)
    with pytest.raises(PermanentError) as caught:
        tokens().access_token(MemoryStore(credentials(expired=True)))
    assert (caught.value.code, caught.value.provider_code) == ("provider_misconfigured", "invalid_client")


def test_a_failing_token_endpoint_is_transient(microsoft: respx.MockRouter) -> None:
    microsoft.post(TOKEN_URL).respond(503, text="Service Unavailable")
    with pytest.raises(TransientError):
        tokens().access_token(MemoryStore(credentials(expired=True)))


def test_credentials_without_the_account_require_reauth(microsoft: respx.MockRouter) -> None:
    with pytest.raises(ReauthRequired) as caught:
        tokens().access_token(MemoryStore({**credentials(), "home_account_id": "someone.else"}))
    assert caught.value.code == "reauth_required"
    assert "No Microsoft account" in caught.value.message


def test_revoking_forgets_without_any_call(microsoft: respx.MockRouter, connector: Connector) -> None:
    store = MemoryStore(credentials())
    connector.oauth.revoke(store)
    assert len(microsoft.calls) == 0
    assert json.loads(store.get()["token_cache"])  # untouched: core drops the ciphertext itself
