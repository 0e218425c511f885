"""Pages for the end user (no sign-in): opening a relink link, and where the provider sends them back."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Redirect, Template

from dashboard import relink
from dashboard.context import DashboardContext
from dashboard.render import SECURITY_HEADERS, page
from hub.crypto import Keyring
from hub.db import Database
from hub.errors import ApiError


class PublicController(Controller):
    path = "/"

    @get("/relink/{token:str}", sync_to_thread=True)
    def open_link(
        self, request: Request[Any, Any, Any], ctx: DashboardContext, db: Database, keyring: Keyring, token: str
    ) -> Redirect | Template:
        """Start a fresh link for the connection named by a signed relink link, then off to the provider."""
        try:
            url = relink.start_link(db, ctx.settings, keyring, ctx.signer, token)
        except relink.LinkExpired:
            return page(
                ctx.signer,
                request,
                "linked.html",
                None,
                "public",
                status_code=410,
                ok=False,
                message="This link has expired or is no longer valid. Ask for a new one.",
            )
        except ApiError as error:
            return page(
                ctx.signer,
                request,
                "linked.html",
                None,
                "public",
                status_code=error.status,
                ok=False,
                message=error.detail,
            )
        return Redirect(url, status_code=302, headers=SECURITY_HEADERS)

    @get("/linked", sync_to_thread=False)
    def linked(self, request: Request[Any, Any, Any], ctx: DashboardContext, error: str | None = None) -> Template:
        """The end of a relink: the provider (through Hub's callback) sends the browser here."""
        if error:
            return page(
                ctx.signer,
                request,
                "linked.html",
                None,
                "public",
                ok=False,
                message=f"The calendar was not connected ({error[:80]}). Open the link in the email to try again.",
            )
        return page(
            ctx.signer,
            request,
            "linked.html",
            None,
            "public",
            ok=True,
            message="Your calendar is connected again. You can close this page.",
        )
