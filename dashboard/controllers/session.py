"""Signing in with an API key (typed into a form, never put in a URL) and signing out."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template

from dashboard.auth import (
    DASHBOARD_ROLES,
    clear_cookie,
    csrf_token,
    end_session,
    new_session,
    read_session,
    session_cookie,
    start_session,
)
from dashboard.context import DashboardContext
from dashboard.controllers._common import Form, field, safe_next
from dashboard.render import SECURITY_HEADERS, flash_cookie, page
from hub.auth.authenticate import authenticate
from hub.auth.client_address import client_address
from hub.auth.ratelimit import FailedAuthLimiter
from hub.db import Database
from hub.errors import ApiKeyRevoked, Unauthenticated


class SessionController(Controller):
    path = "/"

    @get("/sign-in", sync_to_thread=False)
    def form(
        self, request: Request[Any, Any, Any], ctx: DashboardContext, next: str | None = None
    ) -> Template | Redirect:
        """The sign-in form, with an anonymous session so the POST can carry a CSRF token.

        Someone already signed in goes straight on (a revoked key's session was cleared on the
        way here, so this cannot loop)."""
        session = read_session(ctx.signer, request)
        if session is not None and session.key_id is not None:
            return Redirect(safe_next(next), status_code=303, headers=SECURITY_HEADERS)
        if session is None:
            session = new_session()
        return page(
            ctx.signer,
            request,
            "sign_in.html",
            None,
            "sign-in",
            csrf=csrf_token(ctx.signer, session),
            next=safe_next(next),
            cookies=[session_cookie(ctx.signer, session, secure=ctx.secure_cookies)],
        )

    @post("/sign-in", sync_to_thread=True, status_code=303)
    def sign_in(
        self, request: Request[Any, Any, Any], ctx: DashboardContext, db: Database, data: Form
    ) -> Redirect | Template:
        """Check the key (valid, not revoked, role support or owner) and start an 8-hour session."""
        session = read_session(ctx.signer, request)
        assert session is not None  # the CSRF check refused the POST otherwise
        target = safe_next(field(data, "next"))

        failures: FailedAuthLimiter = request.app.state.sign_in_failures
        address = client_address(request.scope, request.app.state.trusted_proxies)

        def refuse(status: int, message: str, headers: dict[str, str] | None = None) -> Template:
            return page(
                ctx.signer,
                request,
                "sign_in.html",
                None,
                "sign-in",
                status_code=status,
                headers=headers,
                error=message,
                csrf=csrf_token(ctx.signer, session),
                next=target,
            )

        secret = field(data, "api_key")
        if not secret:
            return refuse(401, "Paste an API key to sign in.")
        blocked = failures.blocked(address)
        if blocked is not None:  # refused before the key is checked: a right guess looks like a wrong one
            return refuse(
                429,
                f"Too many failed sign-ins came from your address ({blocked.limit} in a minute). "
                f"Wait {blocked.reset_seconds} seconds, then try again.",
                {"Retry-After": str(blocked.reset_seconds)},
            )
        try:
            principal = authenticate(db, f"Bearer {secret}")
        except ApiKeyRevoked:
            return refuse(401, "This API key was revoked. Sign in with another key.")
        except Unauthenticated:
            failures.failed(address)
            return refuse(401, "This is not a valid API key. Check that it was copied whole (it starts with hub_sk_).")
        if principal.role not in DASHBOARD_ROLES:
            return refuse(
                403,
                f"This is a {principal.role} key. The dashboard needs a key with the role support or owner; "
                "ask an owner of your organization to create one.",
            )
        signed_in = start_session(db, principal.key_id, principal.organization_id)
        return Redirect(
            target,
            status_code=303,
            headers=SECURITY_HEADERS,
            cookies=[session_cookie(ctx.signer, signed_in, secure=ctx.secure_cookies)],
        )

    @post("/sign-out", sync_to_thread=True, status_code=303)
    def sign_out(self, request: Request[Any, Any, Any], ctx: DashboardContext, db: Database) -> Redirect:
        """End the session server-side too, so a copy of the cookie stops working as well."""
        end_session(db, read_session(ctx.signer, request))
        return Redirect(
            "/dashboard/sign-in",
            status_code=303,
            headers=SECURITY_HEADERS,
            cookies=[clear_cookie(), flash_cookie(ctx.signer, "ok", "You are signed out.")],
        )
