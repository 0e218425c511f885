"""The application factory: the one place that wires plugins, middleware and routes."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

import hub
from hub.auth.controllers import ApiKeyController, AuditController
from hub.auth.middleware import ApiAuthMiddleware, scope_guard
from hub.auth.ratelimit import RateLimiter
from hub.availability.controllers import AvailabilityController
from hub.bookings.controllers import BookingController
from hub.db import Database
from hub.errors import exception_handlers
from hub.health import health, ready
from hub.jobs.relay import OutboxRelay
from hub.jobs.runner import configure as configure_jobs
from hub.observability.context import RequestContextMiddleware
from hub.observability.logging import configure_logging
from hub.redis import connect, with_redis
from hub.settings import Settings
from hub.users.controllers import UserController

API_CONTROLLERS = [UserController, BookingController, AvailabilityController, ApiKeyController, AuditController]


class MetricsController(PrometheusController):
    path = "/metrics"
    include_in_schema = True


def create_app(settings: Settings, *, database: Database | None = None) -> Litestar:
    settings = with_redis(settings)
    assert settings.redis_url is not None
    db = database or Database(settings.resolved_database_url)
    redis_client = connect(settings.redis_url)
    prometheus = PrometheusConfig(app_name="hub", prefix="hub", group_path=True, exclude=["^/metrics$"])

    def on_shutdown(app: Litestar) -> None:
        if database is None:
            db.dispose()
        redis_client.close()

    app = Litestar(
        route_handlers=[health, ready, MetricsController, *API_CONTROLLERS],
        dependencies={"db": Provide(lambda: db, use_cache=True, sync_to_thread=False)},
        middleware=[RequestContextMiddleware, prometheus.middleware, DefineMiddleware(ApiAuthMiddleware)],
        guards=[scope_guard],
        exception_handlers=exception_handlers,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Hub API",
            version=hub.__version__,
            description="Booking, availability and calendar integration API. See docs/ for the guide.",
            path="/schema",
            render_plugins=[JsonRenderPlugin(), SwaggerRenderPlugin()],
            components=Components(
                security_schemes={"bearerAuth": SecurityScheme(type="http", scheme="bearer", bearer_format="hub_sk_...")}
            ),
            security=[{"bearerAuth": []}],
        ),
        on_shutdown=[on_shutdown],
        debug=False,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.redis = redis_client
    app.state.rate_limiter = RateLimiter(redis_client, settings.rate_limit_per_minute)
    db.set_commit_hook("outbox", OutboxRelay(redis_client))
    configure_jobs(settings)
    return app


def app_from_env() -> Any:
    """Factory for ``uvicorn --factory`` (``hub serve``): settings from the environment."""
    settings = Settings.from_env()
    configure_logging(json=settings.log_format == "json", level=settings.log_level)
    return create_app(settings)
