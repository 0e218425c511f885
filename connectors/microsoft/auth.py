"""Microsoft identity platform (Entra ID v2) through MSAL: linking an account, and access tokens.

* ``HttpxSession`` is the ``http_client`` MSAL is given, so its OpenID discovery, code redemption
  and refreshes go through httpx (Hub's timeouts, user agent, and respx in tests). Successful
  OpenID discovery documents are kept for a day, so building an MSAL application per operation
  (one per user token cache) costs no request.
* MSAL is built with ``instance_discovery=False`` and ``validate_authority=False``: it reads
  ``{authority}/v2.0/.well-known/openid-configuration`` and nothing from the central
  login.microsoftonline.com instance endpoint, so national clouds and local stand-ins work.
* Credentials (opaque to core, encrypted by it) are ``{"token_cache": <MSAL's serialized
  SerializableTokenCache>, "home_account_id": <uid.utid>}``. Refreshed tokens are saved back
  through the ``CredentialStore`` whenever MSAL changed the cache (Entra rotates refresh tokens).
* Token errors by ``error`` code, never by text, through ``hub.http.OAUTH_TABLE``:
  ``invalid_grant`` (AADSTS70008, 700082, 50173...), ``interaction_required``,
  ``consent_required``, ``login_required`` -> ``ReauthRequired`` (``reauth_required``);
  ``temporarily_unavailable`` / ``server_error`` / 5xx / network -> ``TransientError``;
  ``invalid_client`` (a wrong or expired secret) -> ``provider_misconfigured``; anything else ->
  ``PermanentError``. Entra's ``error`` is kept as ``provider_code``.
* Revocation: Entra offers no endpoint that revokes one app's delegated refresh token
  (``revokeSignInSessions`` would sign the user out of *every* app), so ``revoke`` forgets the
  tokens and sends nothing; core drops the ciphertext. Users remove the app's consent in their
  account portal (myapps.microsoft.com / account.live.com/consent).
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Final

import httpx
import msal
from msal.exceptions import MsalServiceError

from connectors.microsoft.client import MicrosoftClient
from connectors.microsoft.schemas import Me
from hub import http
from hub.connectors import CredentialStore, LinkedAccount
from hub.errors import PermanentError, PipelineError, ReauthRequired, TransientError
from hub.http import from_transport_error
from hub.provider_client import MemoryCredentials

# MSAL adds openid, profile and offline_access itself and refuses them here (ValueError).
SCOPES: Final = ["Calendars.ReadWrite", "User.Read"]
DISCOVERY_TTL: Final = 24 * 3600.0

# MSAL warns on every auth URL that does not use response_mode=form_post. Hub's callback is a
# GET (core's /oauth/{provider}/callback) and the code is bound to the flow by PKCE and the
# client secret; switch to form_post if the callback ever accepts POST.
warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended", category=UserWarning)


# --- MSAL's http_client over httpx -------------------------------------------------------------


class HttpxResponse:
    """The response shape MSAL reads: ``status_code``, ``text``, ``headers``, ``json()``."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status_code = response.status_code
        self.text = response.text
        self.headers = dict(response.headers)

    def json(self) -> Any:
        return self._response.json()

    def raise_for_status(self) -> None:
        self._response.raise_for_status()


class HttpxSession:
    """The ``get``/``post``/``close`` MSAL calls on its ``http_client``, implemented with httpx."""

    def __init__(self, http: httpx.Client, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._http = http
        self._clock = clock
        self._discovery: dict[str, tuple[float, httpx.Response]] = {}
        self._lock = threading.Lock()

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> HttpxResponse:
        cacheable = url.endswith("/.well-known/openid-configuration") and not params
        if cacheable:
            with self._lock:
                hit = self._discovery.get(url)
            if hit is not None and hit[0] > self._clock():
                return HttpxResponse(hit[1])
        response = self._http.get(url, params=params, headers=headers, **_options(kwargs))
        if cacheable and response.status_code == 200:
            with self._lock:
                self._discovery[url] = (self._clock() + DISCOVERY_TTL, response)
        return HttpxResponse(response)

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, json: Any = None, **kwargs: Any
    ) -> HttpxResponse:
        options = _options(kwargs)
        if isinstance(data, Mapping):
            form = {key: value for key, value in data.items() if value is not None}
            response = self._http.post(url, params=params, data=form, headers=headers, json=json, **options)
        else:
            response = self._http.post(url, params=params, content=data, headers=headers, json=json, **options)
        return HttpxResponse(response)

    def close(self) -> None:
        """The httpx client belongs to the connector, not to one MSAL application."""


def _options(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    return {"timeout": kwargs["timeout"]} if kwargs.get("timeout") is not None else {}


# --- tokens ------------------------------------------------------------------------------------


def token_error(result: Mapping[str, Any], *, linking: bool = False) -> PipelineError:
    """The pipeline error for an MSAL error dict, by its ``error`` code (``error_codes`` are
    named in the message)."""
    error = str(result.get("error") or "") or None
    codes = ",".join(f"AADSTS{code}" for code in result.get("error_codes") or ())
    message = f"Microsoft token endpoint answered {error or 'an error'}" + (f" ({codes})" if codes else "")
    found = http.OAUTH_TABLE.error(message, status=None, reason=error)
    return http.linking_error(found) if linking else found


class MicrosoftTokens:
    """MSAL behind Hub's credentials: the auth-code flow, and access tokens for Graph calls."""

    def __init__(
        self, *, client_id: str, client_secret: str, authority: str, http: httpx.Client, scopes: list[str] | None = None
    ) -> None:
        self.client_id = client_id
        self._secret = client_secret
        self.authority = authority.rstrip("/")
        self.scopes = list(scopes or SCOPES)
        self._session = HttpxSession(http)

    def app(self, cache: msal.SerializableTokenCache | None = None) -> msal.ConfidentialClientApplication:
        """An MSAL application over ``cache`` (one user's tokens); its discovery is cached."""
        try:
            return msal.ConfidentialClientApplication(
                self.client_id,
                client_credential=self._secret,
                authority=self.authority,
                validate_authority=False,
                instance_discovery=False,
                http_client=self._session,
                token_cache=cache or msal.SerializableTokenCache(),
            )
        except httpx.HTTPError as exc:
            raise from_transport_error(exc) from exc
        except ValueError as exc:  # discovery answered 4xx: a wrong authority or tenant
            raise PermanentError(
                f"Microsoft authority {self.authority} is not usable", code=http.PROVIDER_MISCONFIGURED
            ) from exc
        except MsalServiceError as exc:  # discovery answered 5xx
            raise TransientError("Microsoft OpenID discovery failed", code=http.PROVIDER_UNAVAILABLE) from exc

    def access_token(self, credentials: CredentialStore, *, force_refresh: bool = False) -> str:
        """A valid access token from the stored cache, refreshing (and saving) when needed."""
        stored = credentials.get()
        cache = msal.SerializableTokenCache()
        if stored.get("token_cache"):
            cache.deserialize(stored["token_cache"])
        app = self.app(cache)
        home = stored.get("home_account_id")
        account = next((a for a in app.get_accounts() if a.get("home_account_id") == home), None)
        if account is None:
            raise ReauthRequired("No Microsoft account in the stored credentials")
        try:
            result = app.acquire_token_silent_with_error(self.scopes, account, force_refresh=force_refresh)
        except httpx.HTTPError as exc:
            raise from_transport_error(exc) from exc
        except MsalServiceError as exc:
            raise TransientError("Microsoft token endpoint failed", code=http.PROVIDER_UNAVAILABLE) from exc
        finally:
            if cache.has_state_changed:
                credentials.save({**stored, "token_cache": cache.serialize()})
        if not result:
            raise ReauthRequired("No Microsoft refresh token is stored for this account")
        if "error" in result:
            raise token_error(result)
        return str(result["access_token"])

    def begin(self, *, redirect_uri: str, state: str) -> dict[str, Any]:
        """MSAL's auth-code flow (PKCE S256, nonce, ``state``); ``auth_uri`` is the consent URL.

        ``prompt=select_account`` lets a user who is signed in to several Microsoft accounts pick
        the mailbox to link instead of silently getting the current one.
        """
        flow: dict[str, Any] = self.app().initiate_auth_code_flow(
            self.scopes, redirect_uri=redirect_uri, state=state, prompt="select_account"
        )
        return flow

    def redeem(self, flow: Mapping[str, Any], params: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Redeem the callback's code: (MSAL's result, the credentials to store)."""
        cache = msal.SerializableTokenCache()
        app = self.app(cache)
        try:
            result = app.acquire_token_by_auth_code_flow(dict(flow), dict(params))
        except ValueError as exc:  # state missing or mismatched, or neither code nor error
            raise PermanentError(
                "The OAuth callback does not match the flow it should finish", code=http.OAUTH_STATE_MISMATCH
            ) from exc
        except httpx.HTTPError as exc:
            raise from_transport_error(exc) from exc
        except MsalServiceError as exc:
            raise TransientError("Microsoft token endpoint failed", code=http.PROVIDER_UNAVAILABLE) from exc
        except RuntimeError as exc:  # the id_token's nonce is not this flow's
            raise PermanentError("The ID token does not belong to this sign-in", code="oauth_nonce_mismatch") from exc
        if "error" in result:
            raise token_error(result, linking=True)
        accounts = app.get_accounts()
        if not accounts or "access_token" not in result:
            raise PermanentError("Microsoft returned no account for this sign-in", code="no_account")
        credentials = {"token_cache": cache.serialize(), "home_account_id": accounts[0]["home_account_id"]}
        return result, credentials


# --- the OAuthLinker ---------------------------------------------------------------------------


class MicrosoftOAuth:
    """``OAuthLinker`` for Microsoft 365 / Outlook.com accounts.

    After the code is redeemed, ``GET /me`` is read through ``client`` with the fresh tokens; its
    ``id`` is the account id (the user id Graph puts in notification ``resource`` paths), falling
    back to the ID token's ``oid``; the email is ``mail``, else ``userPrincipalName``, else the ID
    token's ``preferred_username``. Without a ``client`` the ID token alone names the account.
    """

    def __init__(self, tokens: MicrosoftTokens, client: MicrosoftClient | None = None) -> None:
        self.tokens = tokens
        self.client = client

    def begin(self, *, redirect_uri: str, state: str) -> tuple[str, dict[str, Any]]:
        flow = self.tokens.begin(redirect_uri=redirect_uri, state=state)
        return str(flow["auth_uri"]), flow

    def finish(self, *, flow: dict[str, Any], params: Mapping[str, str], redirect_uri: str) -> LinkedAccount:
        # ``redirect_uri`` travels inside MSAL's flow; a different one here means a mixed-up flow.
        if flow.get("redirect_uri") not in (None, redirect_uri):
            raise PermanentError(
                "The callback address differs from the one the flow began with", code=http.OAUTH_STATE_MISMATCH
            )
        result, credentials = self.tokens.redeem(flow, params)
        claims: Mapping[str, Any] = result.get("id_token_claims") or {}
        me = self._profile(credentials)
        account_id = (me.id if me else None) or claims.get("oid") or claims.get("sub")
        if not account_id:
            raise PermanentError("Microsoft returned no account id", code="no_account")
        email = (me.mail or me.user_principal_name if me else None) or claims.get("preferred_username")
        scopes = tuple(str(result.get("scope") or "").split())
        return LinkedAccount(account_id=str(account_id), account_email=email, credentials=credentials, scopes=scopes)

    def revoke(self, credentials: CredentialStore) -> None:
        """Nothing to call: Entra cannot revoke one app's delegated grant (see the module doc)."""

    def _profile(self, credentials: dict[str, Any]) -> Me | None:
        if self.client is None:
            return None
        select = {"$select": "id,mail,userPrincipalName"}
        return self.client.get(MemoryCredentials(credentials), "/me", Me, params=select)
