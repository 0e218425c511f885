"""``DashboardPlugin``: mounts the support dashboard at ``/dashboard`` on a Hub app.

It adds one router (the pages and actions), the static files, the Jinja template engine, the
CSRF check that runs before every POST, the handlers that turn errors into HTML pages (a
missing session into a redirect to the sign-in form), and the background sampler of the
Prometheus figures shown on the overview.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import redis
import structlog
from litestar import Request, Response, Router
from litestar.config.app import AppConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.di import Provide
from litestar.exceptions import HTTPException, ImproperlyConfiguredException
from litestar.plugins import InitPlugin
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import ExceptionHandlersMap

from dashboard.auth import NotAllowed, SignInRequired, Viewer, clear_cookie, csrf_valid, load_viewer, read_session
from dashboard.context import DashboardContext
from dashboard.controllers import CONTROLLERS
from dashboard.metrics import Sampler
from dashboard.render import SECURITY_HEADERS, flash_cookie, install_filters, page
from dashboard.signing import signer_for
from hub.db import Database
from hub.errors import ApiError
from hub.settings import Settings

HERE = Path(__file__).parent
log = structlog.get_logger("hub.dashboard")


def provide_viewer(request: Request[Any, Any, Any], db: Database, ctx: DashboardContext) -> Viewer:
    return load_viewer(db, ctx.signer, request)


class DashboardPlugin(InitPlugin):
    """Mount the dashboard; ``settings`` gives the signing keys and the public URL."""

    def __init__(self, settings: Settings) -> None:
        self.context = DashboardContext(settings=settings, signer=signer_for(settings), sampler=Sampler())

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        if app_config.template_config is not None:
            raise ImproperlyConfiguredException("DashboardPlugin provides the app's template engine; remove the other.")
        app_config.template_config = TemplateConfig(
            directory=HERE / "templates",
            engine=JinjaTemplateEngine,
            engine_callback=lambda engine: install_filters(engine.engine),
        )
        context = self.context
        app_config.route_handlers.append(
            Router(
                path="/dashboard",
                route_handlers=CONTROLLERS,
                dependencies={
                    "ctx": Provide(lambda: context, use_cache=True, sync_to_thread=False),
                    "viewer": Provide(provide_viewer, sync_to_thread=True),
                },
                before_request=csrf_check(context),
                exception_handlers=error_pages(context),
                include_in_schema=False,
            )
        )
        app_config.route_handlers.append(
            create_static_files_router(
                path="/dashboard/static",
                directories=[HERE / "static"],
                include_in_schema=False,
                send_as_attachment=False,
            )
        )
        sampler = context.sampler
        app_config.on_startup.append(lambda _app: sampler.start())
        app_config.on_shutdown.append(lambda _app: sampler.stop())
        return app_config


def _error_page(
    context: DashboardContext, request: Request[Any, Any, Any], status: int, title: str, message: str
) -> Response[Any]:
    return page(context.signer, request, "error.html", None, "error", status_code=status, title=title, message=message)


def csrf_check(context: DashboardContext) -> Callable[[Request[Any, Any, Any]], Awaitable[Response[Any] | None]]:
    """The hook run before every dashboard handler: a POST must come from this site with the
    session's CSRF token in its ``csrf_token`` field, or it is refused (403) before anything runs."""
    public_host = urlsplit(context.settings.public_url).netloc

    async def check(request: Request[Any, Any, Any]) -> Response[Any] | None:
        if request.method != "POST":
            return None
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc not in (request.headers.get("host", ""), public_host):
            return _error_page(
                context, request, 403, "Refused", "This form was sent from another site, so it was refused."
            )
        session = read_session(context.signer, request)
        form = await request.form()
        token = form.get("csrf_token")
        if not csrf_valid(context.signer, session, token if isinstance(token, str) else None):
            return _error_page(
                context,
                request,
                403,
                "Refused",
                "This form has expired or did not come from the dashboard. Go back, reload the page and try again.",
            )
        return None

    return check


def error_pages(context: DashboardContext) -> ExceptionHandlersMap:
    """Errors as HTML pages; a missing session as a redirect to the sign-in form."""

    def sign_in_required(request: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
        cookies = [clear_cookie(), *([flash_cookie(context.signer, "error", exc.reason)] if exc.reason else [])]
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/dashboard"
        return Redirect(
            f"/dashboard/sign-in?{urlencode({'next': target})}",
            status_code=303,
            cookies=cookies,
            headers=SECURITY_HEADERS,
        )

    def not_allowed(request: Request[Any, Any, Any], exc: NotAllowed) -> Response[Any]:
        return _error_page(context, request, 403, "Missing scope", exc.message)

    def api_error(request: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
        return _error_page(context, request, exc.status, exc.title, exc.detail)

    def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        return _error_page(context, request, exc.status_code, "Request not understood", str(exc.detail))

    def redis_down(request: Request[Any, Any, Any], exc: redis.RedisError) -> Response[Any]:
        log.warning("dashboard.redis_unavailable", error=type(exc).__name__)
        return _error_page(
            context,
            request,
            503,
            "Job queue unreachable",
            "Hub cannot reach Redis right now, so jobs cannot be shown or queued. Try again in a minute.",
        )

    def unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        log.exception("dashboard.failed", error=type(exc).__name__)
        return _error_page(
            context,
            request,
            500,
            "Something went wrong",
            "The dashboard failed to show this page. Reload it; if it keeps failing, check Hub's logs.",
        )

    return {
        SignInRequired: sign_in_required,
        NotAllowed: not_allowed,
        ApiError: api_error,
        HTTPException: http_error,
        redis.RedisError: redis_down,
        Exception: unexpected,
    }
