"""Linking an account: the authorize step and the provider's redirect back.

``state`` is 256 random bits, stored only as a hash, single use, valid for ten minutes, and
bound to the organization, the user and the client's ``redirect_uri``; the flow data a
provider needs at the callback (the PKCE verifier, msal's flow) is kept encrypted beside it.
The callback is the one place Hub calls a provider on a request path: the code exchange.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec
import redis
import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.auth import audit
from hub.auth.principal import Principal
from hub.clock import utcnow
from hub.connections._requests import request_setup
from hub.connections.credentials import seal
from hub.connections.schemas import AuthorizeResponse
from hub.connectors import CALENDAR_PROVIDERS, REGISTRY, LinkedAccount, OAuthLinker, spec
from hub.crypto import Keyring
from hub.db import Database
from hub.db.tables import Connection, OAuthState
from hub.errors import ApiError, FieldError, NotFound, PipelineError
from hub.ids import new_id
from hub.settings import LOCAL_HOSTS, Settings, origin_of
from hub.users.service import load_user

log = structlog.get_logger("hub.oauth")

STATE_LIFETIME = timedelta(minutes=10)


def provider_or_404(provider: str, settings: Settings) -> OAuthLinker:
    """The provider's account linking; 404 for an unknown provider, 422 for one the operator
    has not configured."""
    if provider not in CALENDAR_PROVIDERS or provider not in REGISTRY:
        raise NotFound(
            f"Unknown provider {provider!r}; use one of: {', '.join(p for p in CALENDAR_PROVIDERS if p in REGISTRY)}."
        )
    connector_spec = spec(provider)
    if "oauth" not in connector_spec.capabilities:
        raise NotFound(
            f"{connector_spec.name} accounts are linked with a password, not OAuth: "
            f"POST /v1/users/{{user_id}}/connections/{provider}."
        )
    if not connector_spec.configured(settings):
        raise ApiError(
            f"{connector_spec.name} is not configured on this Hub: the operator must set "
            f"HUB_{provider.upper()}_CLIENT_ID and HUB_{provider.upper()}_CLIENT_SECRET.",
            code="provider_not_configured",
            status=422,
            title="Provider not configured",
        )
    linker = connector_spec.build(settings).oauth
    if linker is None:
        raise NotFound(f"{connector_spec.name} has no account linking.")
    return linker


def callback_url(settings: Settings, provider: str) -> str:
    return f"{settings.public_url.rstrip('/')}/oauth/{provider}/callback"


def _state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def check_redirect(settings: Settings, uri: str) -> str:
    """``uri`` if the callback may send the browser there, else 422.

    Its origin must be one of ``HUB_OAUTH_REDIRECT_ORIGINS`` (unset: the origin of
    ``HUB_PUBLIC_URL``), or any ``http://localhost`` / ``http://127.0.0.1`` port when
    ``HUB_OAUTH_REDIRECT_ALLOW_LOCALHOST`` is on (``hub dev``). Plain ``http://`` only for localhost.
    """
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise FieldError("redirect_uri", "must be an absolute http(s) URL without a fragment") from None
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.fragment:
        raise FieldError("redirect_uri", "must be an absolute http(s) URL without a fragment")
    if parts.username is not None or parts.password is not None:
        raise FieldError("redirect_uri", "must not contain credentials")
    local = parts.hostname in LOCAL_HOSTS
    if parts.scheme == "http" and not local:
        raise _not_allowed("plain http:// is allowed only for localhost and 127.0.0.1; use https://")
    if origin_of(uri) in settings.allowed_redirect_origins:
        return uri
    if local and parts.scheme == "http" and settings.oauth_redirect_allow_localhost:
        return uri
    configured = (
        "HUB_OAUTH_REDIRECT_ORIGINS"
        if settings.oauth_redirect_origins
        else "HUB_OAUTH_REDIRECT_ORIGINS (unset, so only the origin of HUB_PUBLIC_URL is allowed)"
    )
    raise _not_allowed(f"{origin_of(uri)} is not an allowed origin; the operator lists them in {configured}")


def _not_allowed(message: str) -> FieldError:
    return FieldError("redirect_uri", message, code="redirect_uri_not_allowed", title="Redirect URI not allowed")


def authorize(
    db: Database,
    settings: Settings,
    keyring: Keyring,
    principal: Principal,
    user_id: str,
    provider: str,
    redirect_uri: str,
) -> AuthorizeResponse:
    """Start a link for ``user_id``; the browser returns to ``redirect_uri`` afterwards.

    The caller vouches for ``redirect_uri``: the API passes only what ``check_redirect``
    accepted, the dashboard's relink flow its own page on ``HUB_PUBLIC_URL``.
    """
    linker = provider_or_404(provider, settings)
    with db.read() as session:
        load_user(session, principal.organization_id, user_id)
    state = secrets.token_urlsafe(32)
    url, flow = linker.begin(redirect_uri=callback_url(settings, provider), state=state)
    now = utcnow()
    state_hash = _state_hash(state)
    with db.write() as session:
        session.add(
            OAuthState(
                state_hash=state_hash,
                organization_id=principal.organization_id,
                user_id=user_id,
                provider=provider,
                redirect_uri=redirect_uri,
                flow_ciphertext=keyring.encrypt(msgspec.json.encode(flow), f"oauth:{state_hash}"),
                actor_key_id=principal.key_id,
                created_at=now,
                expires_at=now + STATE_LIFETIME,
                used_at=None,
            )
        )
    return AuthorizeResponse(authorization_url=url, expires_at=now + STATE_LIFETIME)


class CallbackRefused(Exception):
    """A callback that cannot be tied to a pending link: answered with a page, not a redirect."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def with_query(uri: str, **params: str) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def complete(
    db: Database,
    settings: Settings,
    keyring: Keyring,
    redis_client: redis.Redis,
    provider: str,
    params: dict[str, str],
) -> str:
    """Finish a link; returns where to send the browser (the client's redirect_uri + result)."""
    state = params.get("state")
    if not state:
        raise CallbackRefused("invalid_state", "The link is missing its state parameter; start linking again.")
    state_hash = _state_hash(state)
    now = utcnow()
    with db.write() as session:
        pending = session.get(OAuthState, state_hash)
        if pending is None or pending.provider != provider:
            raise CallbackRefused("invalid_state", "This link is unknown; start linking again from the app.")
        if pending.used_at is not None:
            raise CallbackRefused("state_already_used", "This link was already used; start linking again.")
        if pending.expires_at <= now:
            raise CallbackRefused("state_expired", "This link expired (links last 10 minutes); start linking again.")
        claimed = session.execute(
            update(OAuthState)
            .where(OAuthState.state_hash == state_hash, OAuthState.used_at.is_(None))
            .values(used_at=now)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise CallbackRefused("state_already_used", "This link was already used; start linking again.")
        flow = msgspec.json.decode(keyring.decrypt(pending.flow_ciphertext, f"oauth:{state_hash}"))
        target, organization_id, user_id, actor = (
            pending.redirect_uri,
            pending.organization_id,
            pending.user_id,
            pending.actor_key_id,
        )
    if "error" in params:
        return with_query(target, error=params.get("error") or "access_denied")
    linker = provider_or_404(provider, settings)
    try:
        account = linker.finish(flow=flow, params=params, redirect_uri=callback_url(settings, provider))
    except PipelineError as exc:
        log.warning("oauth.exchange_failed", provider=provider, code=exc.code, provider_code=exc.provider_code)
        extra = {"provider_code": exc.provider_code} if exc.provider_code else {}
        return with_query(target, error=exc.code, **extra)
    connection_id = _store(db, keyring, organization_id, user_id, provider, account, actor)
    try:
        request_setup(redis_client, connection_id)
    except redis.RedisError:
        log.warning("oauth.setup_deferred", connection_id=connection_id)
    return with_query(target, connection_id=connection_id)


def _store(
    db: Database,
    keyring: Keyring,
    organization_id: str,
    user_id: str,
    provider: str,
    account: LinkedAccount,
    actor: str | None,
) -> str:
    with db.write() as session:
        return store_account(session, keyring, organization_id, user_id, provider, account, actor).id


def store_account(
    session: Session,
    keyring: Keyring,
    organization_id: str,
    user_id: str,
    provider: str,
    account: LinkedAccount,
    actor: str | None,
) -> Connection:
    """The account's connection, created or (the same account linked again) made active with
    the new credentials; audited as ``connection.linked``."""
    now = utcnow()
    connection = session.scalar(
        select(Connection).where(
            Connection.organization_id == organization_id,
            Connection.provider == provider,
            Connection.account_id == account.account_id,
        )
    )
    if connection is None:
        connection = Connection(
            id=new_id("connection"),
            organization_id=organization_id,
            user_id=user_id,
            provider=provider,
            account_id=account.account_id,
            created_at=now,
            consecutive_failures=0,
            scopes=[],
        )
        session.add(connection)
    connection.user_id = user_id
    connection.account_email = account.account_email
    connection.status = "active"
    connection.scopes = list(account.scopes)
    connection.credentials_ciphertext = seal(keyring, connection.id, account.credentials)
    connection.consecutive_failures = 0
    connection.last_error_code = connection.last_error_message = connection.last_error_provider_code = None
    connection.last_error_at = None
    connection.revoked_at = None
    connection.updated_at = now
    audit.record(
        session,
        organization_id=organization_id,
        action="connection.linked",
        actor_key_id=actor,
        target_type="connection",
        target_id=connection.id,
        data={"provider": provider, "account_email": account.account_email, "user_id": user_id},
    )
    return connection
