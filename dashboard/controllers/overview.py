"""The overview: how the organization's bookings, syncs and webhooks are doing, and who needs help."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from dashboard.auth import Viewer
from dashboard.charts import Series, bar_chart
from dashboard.context import DashboardContext
from dashboard.overview import hourly, org_figures
from dashboard.queries import list_connections
from dashboard.render import page
from hub.clock import utcnow
from hub.db import Database

ATTENTION_SHOWN = 10


class OverviewController(Controller):
    path = "/"

    @get("/", sync_to_thread=True)
    def overview(
        self, request: Request[Any, Any, Any], ctx: DashboardContext, db: Database, viewer: Viewer
    ) -> Template:
        org = viewer.principal.organization_id
        now = utcnow()
        series = hourly(db, org, now)
        charts = {
            "bookings": bar_chart(
                [Series("bookings", series.bookings, "s-bookings")],
                series.start,
                label="Bookings created per hour, last 24 hours",
            ),
            "sync": bar_chart(
                [Series("succeeded", series.sync_succeeded, "s-ok"), Series("failed", series.sync_failed, "s-bad")],
                series.start,
                label="Sync runs per hour, last 24 hours: succeeded and failed",
            ),
        }
        return page(
            ctx.signer,
            request,
            "overview.html",
            viewer,
            "overview",
            org_hour=org_figures(db, org, now - timedelta(hours=1)),
            org_day=org_figures(db, org, now - timedelta(days=1)),
            hub_hour=ctx.sampler.figures(3600),
            hub_day=ctx.sampler.figures(86400),
            charts=charts,
            series=series,
            attention=(
                list_connections(db, org, attention=True, limit=ATTENTION_SHOWN)
                if viewer.may("connections.read")
                else None
            ),
        )
