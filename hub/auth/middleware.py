"""Authentication, rate limiting and the scope guard for ``/v1``.

The middleware authenticates the bearer key (from the process's one-second ``PrincipalCache``
on the event loop, or else by a database lookup through ``Database.run``; see
``hub.auth.authenticate``), counts the request against the key's rate limit, and adds the
``RateLimit-*`` headers to the response.
A client address with too many invalid keys this minute is refused (429) whatever key it sends,
before the key is looked up in the database (``HUB_AUTH_FAILURES_PER_MINUTE``; the address as
``hub.auth.client_address`` finds it). For a key in the ``PrincipalCache`` the address's check
and the key's count are one Redis round trip; otherwise the check comes first, then the lookup,
then the count.
The guard checks the scopes of the operation a route declares in ``opt=needs("...")``; which
scopes an operation needs is decided in one table, ``hub.auth.scopes.OPERATION_SCOPES``, which
the dashboard checks too.
"""

from __future__ import annotations

from typing import Any

import structlog
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractMiddleware
from litestar.types import Message, Receive, Scope, Send

from hub.auth.authenticate import PrincipalCache, authenticate, cached_principal
from hub.auth.client_address import client_address
from hub.auth.principal import Principal
from hub.auth.ratelimit import FailedAuthLimiter, RateLimiter, RateLimitState
from hub.auth.scopes import missing_scopes
from hub.errors import ApiError, InsufficientScope, RateLimited, Unauthenticated, problem_response


class ApiAuthMiddleware(AbstractMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not scope["path"].startswith("/v1/") and scope["path"] != "/v1":
            await self.app(scope, receive, send)  # only the /v1 API needs an API key
            return
        app_state = scope["litestar_app"].state
        headers = dict(scope["headers"])
        raw = headers.get(b"authorization")
        authorization = raw.decode("latin-1") if raw else None
        try:
            address = client_address(scope, app_state.trusted_proxies)
            known = cached_principal(authorization, app_state.principals)
            if known is not None:
                # The usual case, a key this process accepted in the last second: no database
                # work, only Redis's one round trip, run right here as on SQLite (on PostgreSQL
                # ``Database.run`` would hand it to a thread, which costs more than the call).
                principal, limit = _count_known(known, app_state.rate_limiter, app_state.auth_failures, address)
            else:
                principal, limit = await app_state.db.run(
                    _authenticate_and_count,
                    app_state.db,
                    app_state.principals,
                    app_state.rate_limiter,
                    app_state.auth_failures,
                    authorization,
                    address,
                )
            scope["user"] = principal
            structlog.contextvars.bind_contextvars(
                organization_id=principal.organization_id, api_key_id=principal.key_id
            )
            if limit is not None and not limit.allowed:
                raise RateLimited(
                    f"This API key made more than {limit.limit} requests in a minute. "
                    f"Retry after {limit.reset_seconds} s, or ask for a higher limit.",
                    headers=limit.headers(),
                )
        except ApiError as error:
            # Answer here, through ``send``: an exception raised from a middleware reaches only
            # the app-level handler, which bypasses the outer middlewares' send wrappers (the
            # X-Request-ID header and the request metrics).
            request: Request[Any, Any, Any] = Request(scope, receive=receive)
            response = problem_response(request, error)
            await response.to_asgi_response(app=scope["litestar_app"], request=request)(scope, receive, send)
            return
        if limit is None:
            await self.app(scope, receive, send)
            return

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableScopeHeaders.from_message(message)
                for name, value in limit.headers().items():
                    response_headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_limits)


def _authenticate_and_count(
    db: Any,
    principals: PrincipalCache,
    limiter: RateLimiter,
    failures: FailedAuthLimiter,
    authorization: str | None,
    address: str,
) -> tuple[Principal, RateLimitState | None]:
    """A key the process has not accepted in the last second: the address's check, the lookup,
    then the key's count."""
    if authorization:
        _refuse_if_blocked(failures.blocked(address))
    try:
        principal = authenticate(db, authorization, principals)
    except Unauthenticated:  # not ``ApiKeyRevoked``: a key that once was valid is not a guess
        if authorization:
            failures.failed(address)
        raise
    return principal, limiter.hit(principal.key_id)


def _count_known(
    known: Principal, limiter: RateLimiter, failures: FailedAuthLimiter, address: str
) -> tuple[Principal, RateLimitState | None]:
    """A known key's request: the address's check and the key's count, one Redis round trip."""
    blocked, limit = failures.blocked_and_count(address, limiter, known.key_id)
    _refuse_if_blocked(blocked)
    return known, limit


def _refuse_if_blocked(blocked: RateLimitState | None) -> None:
    """The same refusal whatever key the blocked address sent, known, unknown or malformed."""
    if blocked is not None:
        raise RateLimited(
            f"Too many requests with an invalid API key came from your address ({blocked.limit} in a minute). "
            f"Retry after {blocked.reset_seconds} s with a valid key.",
            headers={"Retry-After": str(blocked.reset_seconds)},
        )


async def scope_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Async on purpose: it only compares sets, and Litestar runs a sync guard in a worker thread
    (a thread hop on every request, ``/health`` included)."""
    operation = handler.opt.get("operation")
    if operation:
        missing = missing_scopes(connection.scope["user"].scopes, operation)
    elif handler.opt.get("scope"):  # a route that names its scope directly
        principal: Principal = connection.scope["user"]
        missing = () if principal.has(handler.opt["scope"]) else (handler.opt["scope"],)
    else:
        return
    if missing:
        required = missing[0]
        raise InsufficientScope(
            f"This API key lacks the `{required}` scope. Use a key that has it, or ask an owner to create one.",
            extra={"required_scope": required},
        )
