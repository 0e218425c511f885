"""Google account linking and the token source: the OAuth 2.0 web-server flow with PKCE (G-OAUTH),
refresh through google-auth over httpx, and revocation.

Scopes are the narrowest that do Hub's job (PROTOCOLS.md section C):

* ``openid email``: the stable account id (``sub``) and the address, from the id_token;
* ``calendar.events``: read events (list, incremental sync, watch) and write Hub's own bookings
  (insert, delete) on calendars the user can edit, without access to calendar settings or ACLs;
* ``calendar.calendarlist.readonly``: which calendars exist, their time zones and access roles.

The broad ``calendar`` scope would also let Hub delete calendars and change sharing; it is not
requested. Google may grant a subset (granular consent): ``finish`` refuses a grant without
event access.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import quote, urlencode

import google.auth.exceptions
import httpx
import msgspec
import structlog
from google.oauth2.credentials import Credentials

from connectors.google._id_token import id_token_claims
from connectors.google._transport import HttpxRequest
from connectors.google.client import GoogleClient, path
from connectors.google.schemas import CalendarListEntry, OAuthError, TokenResponse
from hub import clock, http
from hub.connectors import CredentialStore, LinkedAccount
from hub.errors import PermanentError, PipelineError, ReauthRequired, TransientError
from hub.provider_client import MemoryCredentials
from hub.settings import Settings

EVENTS_SCOPE = "https://www.googleapis.com/auth/calendar.events"
CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar"  # broader; accepted if already granted
SCOPES = ("openid", "email", EVENTS_SCOPE, "https://www.googleapis.com/auth/calendar.calendarlist.readonly")
EXPIRY_SKEW = timedelta(minutes=5)  # an access token with less left than this is refreshed first

# A failed refresh or code exchange, by the token endpoint's ``error``, over the OAuth defaults
# (invalid_grant: revoked, expired (7 days in Testing), password changed... -> reauth).
TOKEN_TABLE: Final = http.OAUTH_TABLE.over({(None, "invalid_scope"): (ReauthRequired, http.REAUTH_REQUIRED)})

log = structlog.get_logger("connectors.google")


def pkce_pair() -> tuple[str, str]:
    """A fresh PKCE verifier (86 unreserved characters) and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


class GoogleTokens:
    """The token source of ``GoogleClient``: the stored access token, refreshed through
    google-auth (over the connector's httpx client) when it is due or when Google answered 401."""

    def __init__(self, settings: Settings, http_client: httpx.Client) -> None:
        self._settings = settings
        self._http = http_client

    def access_token(self, credentials: CredentialStore, *, force_refresh: bool = False) -> str:
        """A usable access token, refreshed first when it expires within ``EXPIRY_SKEW`` (or
        ``force_refresh``: Google refused it)."""
        stored = credentials.get()
        token, expiry = stored.get("access_token"), stored.get("expiry")
        fresh = expiry is None or datetime.fromisoformat(expiry) - EXPIRY_SKEW > clock.utcnow()
        if token and fresh and not force_refresh:
            return str(token)
        return self._refresh(credentials)

    def client_id(self) -> str:
        if not self._settings.google_client_id:
            raise PermanentError("HUB_GOOGLE_CLIENT_ID is not set", code=http.PROVIDER_MISCONFIGURED)
        return self._settings.google_client_id

    def client_secret(self) -> str:
        if not self._settings.google_client_secret:
            raise PermanentError("HUB_GOOGLE_CLIENT_SECRET is not set", code=http.PROVIDER_MISCONFIGURED)
        return self._settings.google_client_secret

    def _refresh(self, credentials: CredentialStore) -> str:
        """Refresh through google-auth and save the new token with ``credentials.save``."""
        stored = credentials.get()
        if not stored.get("refresh_token"):
            raise ReauthRequired("no refresh token is stored for this account")
        grant = Credentials(  # type: ignore[no-untyped-call]
            token=stored.get("access_token"),
            refresh_token=stored["refresh_token"],
            token_uri=self._settings.google_token_url,
            client_id=self.client_id(),
            client_secret=self.client_secret(),
        )
        try:
            grant.refresh(HttpxRequest(self._http))  # type: ignore[no-untyped-call]
        except google.auth.exceptions.RefreshError as exc:
            raise _refresh_error(exc) from exc
        except google.auth.exceptions.TransportError as exc:
            raise TransientError(f"token refresh failed: {exc}", code="network_error") from exc
        expiry = None if grant.expiry is None else grant.expiry.replace(tzinfo=UTC)  # google-auth: naive UTC
        credentials.save(
            {**stored, "access_token": grant.token, "refresh_token": grant.refresh_token, "expiry": _iso(expiry)}
        )
        log.debug("google.token_refreshed")
        return str(grant.token)


class GoogleOAuth:
    """``OAuthLinker`` for Google: the consent URL, the code exchange, revocation."""

    def __init__(
        self,
        settings: Settings,
        tokens: GoogleTokens,
        client: GoogleClient,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._tokens = tokens
        self._client = client
        self._sleep = sleep

    def begin(self, *, redirect_uri: str, state: str) -> tuple[str, dict[str, Any]]:
        verifier, challenge = pkce_pair()
        query = {
            "client_id": self._tokens.client_id(),
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(SCOPES),
            "access_type": "offline",  # without it there is no refresh token
            "prompt": "consent",  # Google returns a refresh token only when consent is shown
            "include_granted_scopes": "true",
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        url = f"{self._settings.google_auth_url}?{urlencode(query, quote_via=quote)}"
        return url, {"code_verifier": verifier, "state": state}

    def finish(self, *, flow: dict[str, Any], params: Mapping[str, str], redirect_uri: str) -> LinkedAccount:
        if params.get("error"):
            error = params["error"]
            code = "access_denied" if error == "access_denied" else "authorization_failed"
            raise PermanentError(
                f"Google answered the authorization request with {error!r}", code=code, provider_code=error
            )
        expected = flow.get("state")
        if expected is not None and not hmac.compare_digest(str(params.get("state", "")), str(expected)):
            raise PermanentError("the callback's state does not match the flow", code=http.OAUTH_STATE_MISMATCH)
        if not params.get("code"):
            raise PermanentError("the callback carries neither code nor error", code="missing_code")
        tokens = self._exchange(params["code"], flow["code_verifier"], redirect_uri)
        scopes = tuple(tokens.scope.split())
        if EVENTS_SCOPE not in scopes and CALENDAR_SCOPE not in scopes:
            raise PermanentError(
                "the user did not grant access to calendar events; link again and allow it",
                code="insufficient_scope_granted",
            )
        if not tokens.refresh_token:
            # access_type=offline with prompt=consent always yields one; without it the link
            # would silently die within the hour.
            raise PermanentError("Google returned no refresh token; link again", code="missing_refresh_token")
        claims = id_token_claims(tokens.id_token, client_id=self._tokens.client_id(), now=clock.utcnow())
        store = MemoryCredentials(
            {
                "access_token": tokens.access_token,
                "refresh_token": tokens.refresh_token,
                "expiry": _iso(clock.utcnow() + timedelta(seconds=tokens.expires_in)),
                "scopes": list(scopes),
            }
        )
        email = claims.email or self._primary_calendar_id(store)
        return LinkedAccount(account_id=claims.sub, account_email=email, credentials=store.get(), scopes=scopes)

    def revoke(self, credentials: CredentialStore) -> None:
        stored = credentials.get()
        token = stored.get("refresh_token") or stored.get("access_token")
        if not token:
            return

        def attempt() -> None:
            try:
                response = self._client.http.post(
                    self._settings.google_revoke_url,
                    params={"token": token},
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
            except httpx.HTTPError as exc:
                raise http.from_transport_error(exc) from exc
            reason = _oauth_error(response)
            if response.is_success or reason == "invalid_token":
                return  # revoked now, or already revoked / expired
            raise TOKEN_TABLE.classify(response, reason=reason)

        http.call_with_retries(attempt, sleep=self._sleep)

    def _exchange(self, code: str, verifier: str, redirect_uri: str) -> TokenResponse:
        form = {
            "code": code,
            "client_id": self._tokens.client_id(),
            "client_secret": self._tokens.client_secret(),
            "redirect_uri": redirect_uri,
            "grant_type": "authorization_code",
            "code_verifier": verifier,
        }
        # Not retried: an authorization code is single-use, and this runs on the request path.
        try:
            response = self._client.http.post(self._settings.google_token_url, data=form)
        except httpx.HTTPError as exc:
            raise http.from_transport_error(exc) from exc
        if not response.is_success:
            raise http.linking_error(TOKEN_TABLE.classify(response, reason=_oauth_error(response)))
        try:
            return msgspec.json.decode(response.content, type=TokenResponse)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise TransientError(f"unreadable token response: {exc}", code=http.PROVIDER_BAD_RESPONSE) from exc

    def _primary_calendar_id(self, credentials: CredentialStore) -> str | None:
        """The account's address as its primary calendar id, when the id_token had no email."""
        try:
            entry = self._client.get(credentials, path("users", "me", "calendarList", "primary"), CalendarListEntry)
        except PipelineError:
            return None
        return entry.id


def _oauth_error(response: httpx.Response) -> str | None:
    try:
        return msgspec.json.decode(response.content, type=OAuthError).error or None
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _refresh_error(exc: google.auth.exceptions.RefreshError) -> PipelineError:
    data = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
    error = str(data.get("error") or "") or None
    if exc.retryable and not TOKEN_TABLE.names(error):
        return TransientError(
            "Google's token endpoint is unavailable", code=http.PROVIDER_UNAVAILABLE, provider_code=error
        )
    return TOKEN_TABLE.error(
        f"Google refused the token refresh ({error or 'unknown error'})", status=None, reason=error
    )
