"""Connections: the list with health and filters, one connection's page, resync and relink."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from dashboard import relink
from dashboard.auth import Viewer
from dashboard.context import DashboardContext
from dashboard.controllers._common import choice, record, redis_client
from dashboard.queries import STATUSES, SyncFilter, list_connections, notifications, push_channels, status_counts
from dashboard.queries import sync_runs as sync_log
from dashboard.render import done, page
from dashboard.schedule import schedule
from hub.clock import utcnow
from hub.connections import service
from hub.connectors import CALENDAR_PROVIDERS, REGISTRY, spec
from hub.db import Database
from hub.db.tables import User
from hub.errors import ApiError, NotFound

RUNS_SHOWN = 25


def server_of(provider: str, account_id: str) -> str | None:
    """The server of an account linked with a password (CalDAV): the origin of its principal
    URL (the account id), so the page names the server, never the user name or password."""
    if provider not in REGISTRY or "password" not in spec(provider).capabilities:
        return None
    parts = urlsplit(account_id)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def poll_minutes(provider: str) -> int | None:
    """How often a provider without push is polled, in minutes."""
    if provider not in REGISTRY:
        return None
    every = spec(provider).poll_every
    return int(every.total_seconds() // 60) if every is not None else None


class ConnectionsController(Controller):
    path = "/connections"

    @get("/", sync_to_thread=True)
    def index(
        self,
        request: Request[Any, Any, Any],
        ctx: DashboardContext,
        db: Database,
        viewer: Viewer,
        status: str | None = None,
        provider: str | None = None,
        q: str | None = None,
        after: str | None = None,
    ) -> Template:
        viewer.require("connections.read")
        org = viewer.principal.organization_id
        filters = {
            "status": choice(status, STATUSES),
            "provider": choice(provider, CALENDAR_PROVIDERS),
            "q": (q or "").strip()[:200],
        }
        listing = list_connections(
            db, org, status=filters["status"], provider=filters["provider"], search=filters["q"], after=after
        )
        return page(
            ctx.signer,
            request,
            "connections.html",
            viewer,
            "connections",
            listing=listing,
            filters=filters,
            counts=status_counts(db, org),
            statuses=STATUSES,
            providers=CALENDAR_PROVIDERS,
            after=after,
        )

    @get("/{connection_id:str}", sync_to_thread=True)
    def detail(
        self, request: Request[Any, Any, Any], ctx: DashboardContext, db: Database, viewer: Viewer, connection_id: str
    ) -> Template:
        viewer.require("connections.read")
        org = viewer.principal.organization_id
        with db.read() as session:
            connection = service.load(session, org, connection_id)  # another organization's id: 404
            out = service.to_out(session, connection)
            user = session.get(User, connection.user_id)
        return page(
            ctx.signer,
            request,
            "connection.html",
            viewer,
            "connections",
            connection=out,
            user=user,
            server=server_of(connection.provider, connection.account_id),
            poll_every=poll_minutes(connection.provider),
            runs=sync_log(db, org, SyncFilter(connection_id=connection_id), limit=RUNS_SHOWN),
            notifications=notifications(db, connection_id),
            channels=push_channels(db, connection_id),
            # the user's time as the API sees it, for a viewer whose key may read bookings
            schedule=schedule(db, org, connection.user_id, utcnow()) if viewer.may("bookings.read") else None,
        )

    @post("/{connection_id:str}/resync", sync_to_thread=True, status_code=303)
    def resync(
        self, request: Request[Any, Any, Any], ctx: DashboardContext, db: Database, viewer: Viewer, connection_id: str
    ) -> Redirect:
        """Queue a sync of every busy-source calendar of the connection, now."""
        viewer.require("connections.sync")
        back = f"/dashboard/connections/{connection_id}"
        try:
            queued = service.request_connection_sync(db, redis_client(request), viewer.principal, connection_id)
        except NotFound:
            raise
        except ApiError as error:
            return done(ctx.signer, back, error.detail, kind="error")
        if not queued.calendars:
            return done(
                ctx.signer,
                back,
                "No calendar of this connection is used for busy times, so there is nothing to sync.",
                kind="error",
            )
        count = len(queued.calendars)
        record(
            db,
            viewer.principal,
            "connection.resync_requested",
            "connection",
            connection_id,
            {"calendars": queued.calendars},
        )
        return done(
            ctx.signer,
            back,
            f"Sync queued for {count} calendar{'s' if count != 1 else ''}. "
            "The sync log below shows the run when it starts.",
        )

    @post("/{connection_id:str}/relink", sync_to_thread=True, status_code=303)
    def relink(
        self, request: Request[Any, Any, Any], ctx: DashboardContext, db: Database, viewer: Viewer, connection_id: str
    ) -> Redirect:
        """Email the connection's user a fresh link to connect the account again."""
        viewer.require("connections.relink")
        back = f"/dashboard/connections/{connection_id}"
        try:
            recipient = relink.request_relink(db, redis_client(request), ctx.settings, viewer.principal, connection_id)
        except NotFound:
            raise
        except ApiError as error:
            return done(ctx.signer, back, error.detail, kind="error")
        return done(ctx.signer, back, f"A relink link is on its way to {recipient}. It works for 7 days.")
