"""Jobs: queue depths, running jobs, dead letters with their errors, retry one or all."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from dashboard import queue_state
from dashboard.auth import Viewer
from dashboard.context import DashboardContext
from dashboard.controllers._common import record, redis_client
from dashboard.render import done, page
from hub.db import Database
from hub.errors import NotFound

BACK = "/dashboard/jobs"


class JobsController(Controller):
    path = "/jobs"

    @get("/", sync_to_thread=True)
    def index(self, request: Request[Any, Any, Any], ctx: DashboardContext, db: Database, viewer: Viewer) -> Template:
        viewer.require("jobs.read")
        connection = redis_client(request)
        org = viewer.principal.organization_id
        return page(
            ctx.signer,
            request,
            "jobs.html",
            viewer,
            "jobs",
            depths=queue_state.depths(connection),
            running=queue_state.running(db, connection, org),
            failed=queue_state.failed(db, connection, org),
            tail=queue_state.traceback_tail,
        )

    @post("/retry-all", sync_to_thread=True, status_code=303)
    def retry_all(
        self, request: Request[Any, Any, Any], ctx: DashboardContext, db: Database, viewer: Viewer
    ) -> Redirect:
        viewer.require("jobs.retry")
        count = queue_state.retry_all(db, redis_client(request), viewer.principal.organization_id)
        if count:
            record(db, viewer.principal, "jobs.retried", "job", "all", {"count": count})
        text = (
            f"Requeued {count} failed job{'s' if count != 1 else ''}." if count else "There was no failed job to retry."
        )
        return done(ctx.signer, BACK, text)

    @post("/{job_id:str}/retry", sync_to_thread=True, status_code=303)
    def retry(
        self, request: Request[Any, Any, Any], ctx: DashboardContext, db: Database, viewer: Viewer, job_id: str
    ) -> Redirect:
        viewer.require("jobs.retry")
        if not queue_state.retry(db, redis_client(request), viewer.principal.organization_id, job_id):
            raise NotFound(f"No failed job with id {job_id!r} in this organization; it may have been retried already.")
        record(db, viewer.principal, "job.retried", "job", job_id)
        return done(ctx.signer, BACK, f"Requeued job {job_id}. It runs again as soon as a worker is free.")
