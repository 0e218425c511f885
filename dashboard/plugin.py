"""``DashboardPlugin``: mounts the support dashboard at ``/dashboard`` on a Hub app.

It adds one router (the pages and actions), the static files, the Jinja template engine, the
CSRF check that runs before every POST, the handlers that turn errors into HTML pages (a
missing session into a redirect to the sign-in form), and the background sampler of the
Prometheus figures shown on the overview.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis
import structlog
from litestar import Litestar, Request, Response, Router
from litestar.config.app import AppConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.di import Provide
from litestar.exceptions import HTTPException, ImproperlyConfiguredException
from litestar.plugins import InitPlugin
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from dashboard.auth import NotAllowed, SignInRequired, Viewer, csrf_valid, load_viewer, read_session
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
            directory=HERE / "templates", engine=JinjaTemplateEngine,
            engine_callback=lambda engine: install_filters(engine.engine),
        )
        context = self.context
        app_config.route_handlers.append(Router(
            path="/dashboard",
            route_handlers=CONTROLLERS,
            dependencies={
                "ctx": Provide(lambda: context, use_cache=True, sync_to_thread=False),
                "viewer": Provide(provide_viewer, sync_to_thread=True),
            },
            before_request=self._check_csrf,
            exception_handlers={
                SignInRequired: self._sign_in_required,
                NotAllowed: self._not_allowed,
                ApiError: self._api_error,
                HTTPException: self._http_error,
                redis.RedisError: self._redis_down,
                Exception: self._unexpected,
            },
            include_in_schema=False,
        ))
        app_config.route_handlers.append(create_static_files_router(
            path="/dashboard/static", directories=[HERE / "static"], include_in_schema=False,
            cache_control=None, send_as_attachment=False,
        ))
        app_config.on_startup.append(self._start)
        app_config.on_shutdown.append(self._stop)
        return app_config

    def _start(self, _app: Litestar) -> None:
        self.context.sampler.start()

    def _stop(self, _app: Litestar) -> None:
        self.context.sampler.stop()

    # --- the CSRF check ---------------------------------------------------------------------

    async def _check_csrf(self, request: Request[Any, Any, Any]) -> Response[Any] | None:
        """Every POST carries the session's token in ``csrf_token`` and comes from this site."""
        if request.method != "POST":
            return None
        origin = request.headers.get("origin")
        allowed = {request.headers.get("host", ""), urlsplit(self.context.settings.public_url).netloc}
        if origin is not None and urlsplit(origin).netloc not in allowed:
            return self._refuse(request, "This form was sent from another site, so it was refused.")
        session = read_session(self.context.signer, request)
        form = await request.form()
        token = form.get("csrf_token")
        if not csrf_valid(self.context.signer, session, token if isinstance(token, str) else None):
            return self._refuse(request, "This form has expired or did not come from the dashboard. "
                                         "Go back, reload the page and try again.")
        return None

    def _refuse(self, request: Request[Any, Any, Any], message: str) -> Response[Any]:
        return self._error_page(request, 403, "Refused", message)

    # --- errors as pages --------------------------------------------------------------------

    def _error_page(self, request: Request[Any, Any, Any], status: int, title: str, message: str) -> Response[Any]:
        return page(self.context.signer, request, "error.html", None, "error", status_code=status,
                    title=title, message=message)

    def _sign_in_required(self, request: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
        cookies = [flash_cookie(self.context.signer, "error", exc.reason)] if exc.reason else []
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/dashboard"
        return Redirect(f"/dashboard/sign-in?next={target}", status_code=303, cookies=cookies, headers=SECURITY_HEADERS)

    def _not_allowed(self, request: Request[Any, Any, Any], exc: NotAllowed) -> Response[Any]:
        return self._error_page(request, 403, "Owners only", exc.message)

    def _api_error(self, request: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
        return self._error_page(request, exc.status, exc.title, exc.detail)

    def _http_error(self, request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        return self._error_page(request, exc.status_code, "Request not understood", str(exc.detail))

    def _redis_down(self, request: Request[Any, Any, Any], exc: redis.RedisError) -> Response[Any]:
        log.warning("dashboard.redis_unavailable", error=type(exc).__name__)
        return self._error_page(request, 503, "Job queue unreachable",
                                "Hub cannot reach Redis right now, so jobs cannot be shown or queued. Try again in a minute.")

    def _unexpected(self, request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        log.exception("dashboard.failed", error=type(exc).__name__)
        return self._error_page(request, 500, "Something went wrong",
                                "The dashboard failed to show this page. Reload it; if it keeps failing, check Hub's logs.")
