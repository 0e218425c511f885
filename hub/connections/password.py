"""Linking an account with a server, a user name and a password (CalDAV), for providers whose
spec declares the ``password`` capability.

Unlike OAuth this happens on the request: the connector's ``PasswordLinker`` finds the account
on its server (discovery, then the calendar list) before anything is stored, so a wrong password
or a server that is not there is a ``422`` with the connector's code, and a success is the
connection with its calendars. The password is sealed with the connection's other credentials
(``credentials.seal``: encrypted, bound to the connection id, re-encrypted by
``hub secrets rotate``) and is never logged or shown again. The first sync is queued at once;
afterwards the calendars are polled (``sweep_polled_calendars``).
"""

from __future__ import annotations

import redis
import structlog

from hub.auth.principal import Principal
from hub.clock import utcnow
from hub.connections._calendars import store_calendars
from hub.connections._requests import request_setup
from hub.connections.oauth import store_account
from hub.connections.schemas import ConnectionOut, PasswordLinkRequest
from hub.connections.service import to_out
from hub.connectors import CALENDAR_PROVIDERS, REGISTRY, Connectors, LinkRefused, PasswordLinker, PasswordLogin, spec
from hub.crypto import Keyring
from hub.db import Database
from hub.errors import ApiError, FieldError, NotFound
from hub.idempotency import Finish, no_finish
from hub.users.service import load_user

log = structlog.get_logger("hub.connections")


def linker_or_404(connectors: Connectors, provider: str) -> PasswordLinker:
    if provider not in CALENDAR_PROVIDERS or provider not in REGISTRY or "password" not in spec(provider).capabilities:
        linked = [p for p in CALENDAR_PROVIDERS if p in REGISTRY and "password" in spec(p).capabilities]
        raise NotFound(f"No password linking for provider {provider!r}; use one of: {', '.join(linked)}.")
    linker = connectors.get(provider).password
    if linker is None:
        raise NotFound(f"{spec(provider).name} has no password linking.")
    return linker


def _refusal(exc: LinkRefused) -> ApiError:
    """The connector's refusal as the API's 422, with the connector's code."""
    if exc.code == "validation_failed":
        return FieldError("preset" if exc.message.startswith("preset") else "server_url", exc.message)
    return ApiError(exc.message, code=exc.code, status=422, title="Account not linked")


def link(
    db: Database,
    keyring: Keyring,
    redis_client: redis.Redis,
    connectors: Connectors,
    principal: Principal,
    user_id: str,
    provider: str,
    data: PasswordLinkRequest,
    finish: Finish = no_finish,
) -> ConnectionOut:
    linker = linker_or_404(connectors, provider)
    with db.read() as session:
        load_user(session, principal.organization_id, user_id)
    login = PasswordLogin(
        username=data.username, password=data.password, server_url=data.server_url, preset=data.preset
    )
    try:
        account = linker.link(login)
    except LinkRefused as exc:
        log.info("connection.link_refused", provider=provider, code=exc.code, provider_code=exc.provider_code)
        raise _refusal(exc) from None
    with finish.write(db) as session:
        connection = store_account(
            session, keyring, principal.organization_id, user_id, provider, account, principal.key_id
        )
        session.flush()
        store_calendars(session, connection.id, list(account.calendars), utcnow())
        out = to_out(session, connection)
        finish(session, 201, out)
    try:
        request_setup(redis_client, connection.id)
    except redis.RedisError:
        log.warning("connection.setup_deferred", connection_id=connection.id)  # the poll sweep syncs it
    return out
