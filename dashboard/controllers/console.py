"""The developer console: API keys — create, list, revoke, sign out everywhere — and the audit log."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy import select

from dashboard.auth import Viewer
from dashboard.context import DashboardContext
from dashboard.controllers._common import Form, field, fields
from dashboard.render import done, page
from hub.auth import service
from hub.auth.schemas import ApiKeyCreate
from hub.auth.scopes import ALL_SCOPES, ROLE_SCOPES, ROLES
from hub.db import Database
from hub.db.tables import ApiKey
from hub.errors import ApiError

KEYS_SHOWN = 100
AUDIT_PAGE = 50


def _key_names(db: Database, organization_id: str) -> dict[str, str]:
    with db.read() as session:
        rows = session.execute(select(ApiKey.id, ApiKey.name).where(ApiKey.organization_id == organization_id))
        return dict(rows.all())


class ConsoleController(Controller):
    path = "/"

    def _keys_page(
        self,
        request: Request[Any, Any, Any],
        ctx: DashboardContext,
        db: Database,
        viewer: Viewer,
        *,
        after: str | None = None,
        status_code: int = 200,
        error: str | None = None,
        form: dict[str, Any] | None = None,
    ) -> Template:
        keys = service.list_keys(db, viewer.principal, KEYS_SHOWN, after)
        return page(
            ctx.signer,
            request,
            "keys.html",
            viewer,
            "keys",
            status_code=status_code,
            keys=keys,
            error=error,
            form=form or {},
            roles=ROLES,
            all_scopes=ALL_SCOPES,
            role_scopes={r: sorted(s) for r, s in ROLE_SCOPES.items()},
        )

    @get("/keys", sync_to_thread=True)
    def keys(
        self,
        request: Request[Any, Any, Any],
        ctx: DashboardContext,
        db: Database,
        viewer: Viewer,
        after: str | None = None,
    ) -> Template:
        viewer.require("keys.manage")
        return self._keys_page(request, ctx, db, viewer, after=after)

    @post("/keys", sync_to_thread=True, status_code=200)
    def create_key(
        self, request: Request[Any, Any, Any], ctx: DashboardContext, db: Database, viewer: Viewer, data: Form
    ) -> Template:
        """Create a key and show its secret on this page, once; nothing stores it in the clear."""
        viewer.require("keys.manage")
        form = {"name": field(data, "name"), "role": field(data, "role"), "scopes": fields(data, "scopes")}
        try:
            request_data = msgspec.convert(
                {"name": form["name"], "role": form["role"] or "app", "scopes": form["scopes"] or None}, ApiKeyCreate
            )
        except msgspec.ValidationError as exc:
            return self._keys_page(
                request,
                ctx,
                db,
                viewer,
                status_code=422,
                form=form,
                error=f"Check the form: {exc}. A key needs a name and one of the listed roles.",
            )
        try:
            created = service.create_key(db, viewer.principal, request_data)
        except ApiError as error:
            return self._keys_page(request, ctx, db, viewer, status_code=error.status, form=form, error=error.detail)
        return page(ctx.signer, request, "key_created.html", viewer, "keys", created=created)

    @post("/keys/{key_id:str}/revoke", sync_to_thread=True, status_code=303)
    def revoke_key(
        self, request: Request[Any, Any, Any], ctx: DashboardContext, db: Database, viewer: Viewer, key_id: str
    ) -> Redirect:
        viewer.require("keys.manage")
        revoked = service.revoke_key(db, viewer.principal, key_id)  # another organization's id: 404
        request.app.state.principals.forget(revoked.id)  # the API refuses it from the next request on
        if revoked.id == viewer.principal.key_id:
            return done(ctx.signer, "/dashboard/sign-in", f"You revoked the key of this session ({revoked.name}).")
        return done(ctx.signer, "/dashboard/keys", f"Revoked {revoked.name} ({revoked.prefix}…). It stops working now.")

    @post("/keys/{key_id:str}/sign-out-everywhere", sync_to_thread=True, status_code=303)
    def sign_out_everywhere(
        self, request: Request[Any, Any, Any], ctx: DashboardContext, db: Database, viewer: Viewer, key_id: str
    ) -> Redirect:
        """End every dashboard session of a key (copies of its cookies included); the key keeps working."""
        viewer.require("keys.manage")
        key, ended = service.end_dashboard_sessions(db, viewer.principal, key_id)  # another organization's id: 404
        if key.id == viewer.principal.key_id:
            return done(
                ctx.signer, "/dashboard/sign-in", f"You ended every dashboard session of {key.name}, this one too."
            )
        sessions = f"{ended} dashboard session{'s' if ended != 1 else ''}"
        return done(ctx.signer, "/dashboard/keys", f"Ended {sessions} of {key.name} ({key.prefix}…).")

    @get("/audit", sync_to_thread=True)
    def audit(
        self,
        request: Request[Any, Any, Any],
        ctx: DashboardContext,
        db: Database,
        viewer: Viewer,
        cursor: str | None = None,
    ) -> Template:
        viewer.require("audit.read")
        events = service.list_audit_events(db, viewer.principal, AUDIT_PAGE, cursor)
        return page(
            ctx.signer,
            request,
            "audit.html",
            viewer,
            "audit",
            events=events,
            names=_key_names(db, viewer.principal.organization_id),
            paged=bool(cursor),
        )
