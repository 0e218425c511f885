"""The sync log across connections: newest first, filtered, one keyset page at a time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from dashboard.auth import Viewer
from dashboard.context import DashboardContext
from dashboard.controllers._common import choice, day_start
from dashboard.queries import OUTCOMES, SyncFilter, sync_runs
from dashboard.render import page
from hub.clock import utcnow
from hub.connections.service import load
from hub.connectors import CALENDAR_PROVIDERS
from hub.db import Database
from hub.ids import is_valid

PERIODS = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}


class SyncLogController(Controller):
    path = "/sync-runs"

    @get("/", sync_to_thread=True)
    def index(
        self,
        request: Request[Any, Any, Any],
        ctx: DashboardContext,
        db: Database,
        viewer: Viewer,
        outcome: str | None = None,
        provider: str | None = None,
        connection: str | None = None,
        period: str | None = None,
        until: str | None = None,
        cursor: str | None = None,
    ) -> Template:
        """``period`` keeps the last hour/day/week/month; ``until`` (a UTC day) ends the log at that day."""
        viewer.require("connections.read")
        filters = {
            "outcome": choice(outcome, OUTCOMES),
            "provider": choice(provider, CALENDAR_PROVIDERS),
            "connection": connection if connection and is_valid(connection, "connection") else None,
            "period": period if period in PERIODS else None,
            "until": until if day_start(until) else None,
        }
        if filters["connection"]:
            with db.read() as session:
                load(session, viewer.principal.organization_id, filters["connection"])  # another organization's: 404
        end = day_start(filters["until"])
        where = SyncFilter(
            outcome=filters["outcome"],
            provider=filters["provider"],
            connection_id=filters["connection"],
            since=utcnow() - PERIODS[filters["period"]] if filters["period"] else None,
            until=end + timedelta(days=1) if end else None,
        )
        result = sync_runs(db, viewer.principal.organization_id, where, cursor)
        return page(
            ctx.signer,
            request,
            "sync_runs.html",
            viewer,
            "sync",
            result=result,
            filters=filters,
            outcomes=OUTCOMES,
            providers=CALENDAR_PROVIDERS,
            periods=list(PERIODS),
            paged=bool(cursor),
        )
