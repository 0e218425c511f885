"""The compatibility layer at the edge of ``/v1``.

A client pins a revision with ``Hub-Version: <date>``; without the header it gets the current
revision. For a pinned older revision this middleware upgrades the JSON request body through
every newer change before Litestar parses it, and downgrades the JSON response body (errors
included) on the way out, so handlers are written once, against the current shape.

Every ``/v1`` response names the revision it was written in (``Hub-Version``). A deprecated
revision also gets ``Deprecation``, ``Sunset`` and ``Link`` headers. An unknown revision is a
``422 validation_failed`` on the ``Hub-Version`` field.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.handlers import HTTPRouteHandler
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from hub.errors import FieldError, problem_response
from hub.versioning.compat import _asgi
from hub.versioning.compat.change import Change, downgrade, pending, upgrade
from hub.versioning.compat.changes import CHANGES
from hub.versioning.headers import announce
from hub.versioning.registry import VERSION_HEADER, ApiVersion, Revision, find_revision, find_version

_HEADER_KEY = VERSION_HEADER.lower().encode()
_BODY_METHODS = ("POST", "PUT", "PATCH")
_DEFAULT_BODY_LIMIT = 1024 * 1024


class CompatMiddleware:
    """Resolves ``Hub-Version`` and translates bodies of older revisions (see module doc)."""

    def __init__(self, app: ASGIApp, version: ApiVersion | None = None, changes: tuple[Change, ...] = CHANGES) -> None:
        self.app = app
        self.version = version or find_version("v1")
        self.changes = changes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or not scope["path"].startswith(f"/{self.version.version}/"):
            await self.app(scope, receive, send)
            return
        revision = self._revision(scope)
        if revision is None:
            await self._reject(scope, receive, send)
            return
        changes = pending(self.changes, revision.name, scope["method"], str(scope.get("path_template", "")))
        if changes and scope["method"] in _BODY_METHODS:
            receive = await _upgraded(scope, receive, changes)
        await self.app(scope, receive, _downgrading(send, revision, changes))

    def _revision(self, scope: Scope) -> Revision | None:
        raw = dict(scope["headers"]).get(_HEADER_KEY)
        name = raw.decode("latin-1").strip() if raw else ""
        return find_revision(self.version, name) if name else self.version.current_revision

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        known = ", ".join(r.name for r in self.version.revisions)
        error = FieldError(
            VERSION_HEADER,
            f"is not a revision of {self.version.version}; send one of {known}, "
            f"or leave the header out for the current revision ({self.version.current_revision.name})",
        )
        request: Request[Any, Any, Any] = Request(scope, receive=receive)
        response = problem_response(request, error)
        await response.to_asgi_response(app=scope["litestar_app"], request=request)(scope, receive, send)


async def _upgraded(scope: Scope, receive: Receive, changes: list[Change]) -> Receive:
    """A ``receive`` delivering the request body in the current shape (or untouched, when it is
    too large or not JSON: Litestar then answers 413 or 400 as usual)."""
    handler = scope.get("route_handler")
    limit = _DEFAULT_BODY_LIMIT
    if isinstance(handler, HTTPRouteHandler):
        limit = handler.resolve_request_max_body_size() or limit
    messages, body = await _asgi.read_body(receive, limit)
    if not body:
        return _asgi.replaying(messages, receive)
    ok, value = _asgi.decode(body)
    if not ok:
        return _asgi.replaying(messages, receive)
    upgraded = msgspec.json.encode(upgrade(value, changes))
    _asgi.with_content_length(scope, len(upgraded))
    return _asgi.replaying([_asgi.body_message(upgraded)], receive)


def _downgrading(send: Send, revision: Revision, changes: list[Change]) -> Send:
    """A ``send`` that labels the response with the revision and, when there are changes to
    undo, holds the JSON body back until it is complete and sends it in the old shape."""
    held: list[Message] = []
    chunks: list[bytes] = []

    async def send_downgraded(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableScopeHeaders.from_message(message)
            headers[VERSION_HEADER] = revision.name
            if revision.deprecation is not None:
                announce(headers, revision.deprecation)
            if changes and _asgi.is_json(headers.get("content-type")):
                held.append(message)
                return
        elif message["type"] == "http.response.body" and held:
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            start = held.pop()
            body = b"".join(chunks)
            ok, value = _asgi.decode(body)
            if ok:
                body = msgspec.json.encode(downgrade(value, changes))
                MutableScopeHeaders.from_message(start)["content-length"] = str(len(body))
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        await send(message)

    return send_downgraded
