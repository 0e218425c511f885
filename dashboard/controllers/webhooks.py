"""Client webhooks: endpoints (enabled or disabled, and why), deliveries with attempts, retry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from dashboard.auth import Viewer
from dashboard.context import DashboardContext
from dashboard.controllers._common import record, redis_client
from dashboard.queries import delivery_counts
from dashboard.render import done, page
from hub.clock import utcnow
from hub.db import Database
from hub.deliveries import service
from hub.errors import Conflict

ENDPOINTS_SHOWN = 100
DELIVERIES_PAGE = 25


class WebhooksController(Controller):
    path = "/webhooks"

    @get("/", sync_to_thread=True)
    def index(
        self,
        request: Request[Any, Any, Any],
        ctx: DashboardContext,
        db: Database,
        viewer: Viewer,
        after: str | None = None,
    ) -> Template:
        viewer.require("webhooks.read")
        endpoints = service.list_endpoints(db, viewer.principal, ENDPOINTS_SHOWN, after)
        counts = delivery_counts(db, viewer.principal.organization_id, utcnow() - timedelta(days=1))
        return page(ctx.signer, request, "webhooks.html", viewer, "webhooks", endpoints=endpoints, counts=counts)

    @get("/{endpoint_id:str}", sync_to_thread=True)
    def endpoint(
        self,
        request: Request[Any, Any, Any],
        ctx: DashboardContext,
        db: Database,
        viewer: Viewer,
        endpoint_id: str,
        cursor: str | None = None,
    ) -> Template:
        viewer.require("webhooks.read")
        found = service.get_endpoint(db, viewer.principal, endpoint_id)  # another organization's id: 404
        deliveries = service.list_deliveries(db, viewer.principal, endpoint_id, DELIVERIES_PAGE, cursor)
        return page(
            ctx.signer,
            request,
            "endpoint.html",
            viewer,
            "webhooks",
            endpoint=found,
            deliveries=deliveries,
            paged=bool(cursor),
        )

    @post("/{endpoint_id:str}/enable", sync_to_thread=True, status_code=303)
    def enable(
        self, request: Request[Any, Any, Any], ctx: DashboardContext, db: Database, viewer: Viewer, endpoint_id: str
    ) -> Redirect:
        """Turn a disabled endpoint back on (owners); its failing streak starts again from zero."""
        viewer.require("webhooks.enable")
        service.enable_endpoint(db, viewer.principal, endpoint_id)
        return done(ctx.signer, f"/dashboard/webhooks/{endpoint_id}", "The endpoint is enabled again.")


class DeliveriesController(Controller):
    path = "/deliveries"

    @post("/{delivery_id:str}/retry", sync_to_thread=True, status_code=303)
    def retry(
        self, request: Request[Any, Any, Any], ctx: DashboardContext, db: Database, viewer: Viewer, delivery_id: str
    ) -> Redirect:
        """Send the delivery again now (a disabled endpoint must be enabled first)."""
        viewer.require("deliveries.retry")
        delivery = service.get_delivery(db, viewer.principal, delivery_id)  # another organization's id: 404
        back = f"/dashboard/webhooks/{delivery.endpoint_id}"
        try:
            service.retry_delivery(db, redis_client(request), viewer.principal, delivery_id)
        except Conflict as error:
            return done(ctx.signer, back, error.detail, kind="error")
        record(db, viewer.principal, "webhook_delivery.retried", "webhook_delivery", delivery_id)
        return done(ctx.signer, back, f"Delivery {delivery_id} is queued to be sent again now.")
