"""``/v1/.../connections`` and the ``/oauth/{provider}/callback`` the provider redirects to."""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.response import Redirect

from hub.auth.scopes import needs
from hub.connections import oauth, password, service
from hub.connections.schemas import (
    AuthorizeRequest,
    AuthorizeResponse,
    CalendarUpdate,
    ConnectionOut,
    PasswordLinkRequest,
    SyncRequested,
)
from hub.connectors import Connectors
from hub.crypto import Keyring
from hub.db import Database
from hub.pagination import DEFAULT_LIMIT, Page
from hub.settings import Settings
from hub.web import ApiRequest, IdempotencyKeyHeader, Limit, run_idempotent


class AuthorizeController(Controller):
    path = "/v1/users/{user_id:str}/connections"
    tags = ["Connections"]

    @post(
        "/{provider:str}/authorize",
        sync_to_thread=True,
        opt=needs("connections.write"),
        status_code=200,
        summary="Start linking a calendar account (Google or Microsoft)",
    )
    def authorize(
        self,
        request: ApiRequest,
        db: Database,
        settings: Settings,
        keyring: Keyring,
        user_id: str,
        provider: str,
        data: AuthorizeRequest,
    ) -> AuthorizeResponse:
        oauth.provider_or_404(provider, settings)
        redirect_uri = oauth.check_redirect(settings, data.redirect_uri)
        return oauth.authorize(db, settings, keyring, request.user, user_id, provider, redirect_uri)

    @post(
        "/{provider:str}",
        sync_to_thread=True,
        opt=needs("connections.write"),
        status_code=201,
        summary="Link a calendar account with a server and an app-specific password (CalDAV)",
    )
    def link_with_password(
        self,
        request: ApiRequest,
        db: Database,
        keyring: Keyring,
        connectors: Connectors,
        user_id: str,
        provider: str,
        data: PasswordLinkRequest,
        body: bytes,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[ConnectionOut]:
        principal, redis_client = request.user, request.app.state.redis
        password.linker_or_404(connectors, provider)
        return run_idempotent(
            request,
            db,
            keyring,
            idempotency_key,
            body,
            lambda finish: password.link(
                db, keyring, redis_client, connectors, principal, user_id, provider, data, finish
            ),
        )


class ConnectionController(Controller):
    path = "/v1/connections"
    tags = ["Connections"]

    @get(sync_to_thread=True, opt=needs("connections.read"), summary="List connections")
    def list(
        self,
        request: ApiRequest,
        db: Database,
        user_id: str | None = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page[ConnectionOut]:
        return service.list_connections(db, request.user, user_id=user_id, limit=limit, cursor=cursor)

    @get("/{connection_id:str}", sync_to_thread=True, opt=needs("connections.read"), summary="Get a connection")
    def retrieve(self, request: ApiRequest, db: Database, connection_id: str) -> ConnectionOut:
        return service.get_connection(db, request.user, connection_id)

    @patch(
        "/{connection_id:str}/calendars/{calendar_id:str}",
        sync_to_thread=True,
        opt=needs("connections.write"),
        summary="Choose busy-source and booking-target calendars",
    )
    def update_calendar(
        self, request: ApiRequest, db: Database, connection_id: str, calendar_id: str, data: CalendarUpdate
    ) -> ConnectionOut:
        return service.update_calendar(db, request.app.state.redis, request.user, connection_id, calendar_id, data)

    @post(
        "/{connection_id:str}/sync",
        sync_to_thread=True,
        opt=needs("connections.sync"),
        status_code=202,
        summary="Queue a sync of the connection's busy-source calendars",
    )
    def sync(self, request: ApiRequest, db: Database, connection_id: str) -> SyncRequested:
        return service.request_connection_sync(db, request.app.state.redis, request.user, connection_id)

    @delete(
        "/{connection_id:str}",
        sync_to_thread=True,
        opt=needs("connections.write"),
        status_code=200,
        summary="Unlink: stop push, revoke at the provider, keep history",
    )
    def unlink(self, request: ApiRequest, db: Database, connection_id: str) -> ConnectionOut:
        return service.unlink(db, request.app.state.redis, request.user, connection_id)


@get(
    "/oauth/{provider:str}/callback",
    sync_to_thread=True,
    tags=["Connections"],
    include_in_schema=True,
    summary="Where the provider sends the browser back after consent",
)
def oauth_callback(
    request: Request[Any, Any, Any], db: Database, settings: Settings, keyring: Keyring, provider: str
) -> Response[Any]:
    params = dict(request.query_params.items())
    try:
        target = oauth.complete(db, settings, keyring, request.app.state.redis, provider, params)
    except oauth.CallbackRefused as refused:
        page = (
            f"<!doctype html><title>Link not completed</title><h1>Link not completed</h1>"
            f"<p>{escape(refused.message)}</p><p><code>{escape(refused.code)}</code></p>"
        )
        return Response(page, status_code=400, media_type="text/html", headers={"Cache-Control": "no-store"})
    return Redirect(target, status_code=302, headers={"Cache-Control": "no-store"})
