"""Deprecated routes announce themselves: the middleware adds ``Deprecation``, ``Sunset`` and
``Link`` to every response of a route listed in ``DEPRECATIONS``.

Routes are matched by the path template Litestar resolved (``/v1/bookings/{booking_id}``),
never by the raw path, so one entry covers every id.
"""

from __future__ import annotations

from collections.abc import Mapping

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from hub.versioning.headers import announce
from hub.versioning.registry import DEPRECATIONS, Deprecation


def deprecation_for(scope: Scope, table: Mapping[tuple[str, str], Deprecation] = DEPRECATIONS) -> Deprecation | None:
    """The deprecation of the route ``scope`` was routed to, if it has one."""
    method = str(scope.get("method", "")).upper()
    template = str(scope.get("path_template", ""))
    entry = table.get((method, template))
    if entry is None and method == "HEAD":
        entry = table.get(("GET", template))
    return entry


class DeprecationMiddleware:
    """Adds the deprecation headers to responses of deprecated routes."""

    def __init__(self, app: ASGIApp, table: Mapping[tuple[str, str], Deprecation] = DEPRECATIONS) -> None:
        self.app = app
        self.table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        entry = deprecation_for(scope, self.table) if scope["type"] == ScopeType.HTTP else None
        if entry is None:
            await self.app(scope, receive, send)
            return

        async def send_announcing(message: Message) -> None:
            if message["type"] == "http.response.start":
                announce(MutableScopeHeaders.from_message(message), entry)
            await send(message)

        await self.app(scope, receive, send_announcing)
