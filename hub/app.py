"""The application factory: the one place that wires plugins, middleware and routes."""

from __future__ import annotations

import asyncio
import gc
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio.to_thread
from litestar import Litestar, Request, Router
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.prometheus import PrometheusConfig

import hub
from dashboard.plugin import DashboardPlugin
from hub.auth.authenticate import PrincipalCache
from hub.auth.client_address import trusted_networks
from hub.auth.controllers import ApiKeyController, AuditController
from hub.auth.middleware import ApiAuthMiddleware, scope_guard
from hub.auth.ratelimit import FailedAuthLimiter, RateLimiter
from hub.availability.controllers import AvailabilityController
from hub.bookings.controllers import BookingController
from hub.connections.controllers import AuthorizeController, ConnectionController, oauth_callback
from hub.connectors import Connectors
from hub.crypto import keyring_for
from hub.db import Database
from hub.deliveries.controllers import WebhookDeliveryController, WebhookEndpointController
from hub.errors import ApiError, FieldError, exception_handlers
from hub.health import health, ready
from hub.holds.controllers import HoldController
from hub.jobs.relay import OutboxRelay
from hub.jsonbody import HubRequest
from hub.observability.context import RequestContextMiddleware
from hub.observability.exposition import MetricsController
from hub.observability.logging import configure_logging
from hub.observability.plugin import TracingPlugin
from hub.observability.request_metrics import RequestMetrics
from hub.openapi import add_problem_responses, describe_outside_routes
from hub.redis import connect, with_redis
from hub.series.controllers import BookingSeriesController
from hub.settings import Settings
from hub.text import NUL_MESSAGE
from hub.users.controllers import UserController
from hub.versioning import VersioningPlugin
from hub.webhooks.controllers import provider_webhook

API_CONTROLLERS = [
    UserController,
    BookingController,
    HoldController,
    BookingSeriesController,
    AvailabilityController,
    ApiKeyController,
    AuditController,
    AuthorizeController,
    ConnectionController,
    WebhookEndpointController,
    WebhookDeliveryController,
]


def api_router() -> Router:
    """The ``/v1`` API, behind the scope guard. Only these routes need it, so the service routes
    (``/health``, ``/metrics``) and the dashboard are not made to run a guard they do not use."""
    return Router(path="/", route_handlers=API_CONTROLLERS, guards=[scope_guard])


async def require_json_body(request: Request[Any, Any, Any]) -> None:
    """The API speaks JSON only: a body of another media type is a 415, not a guess."""
    if request.scope["method"] in ("POST", "PUT", "PATCH") and request.scope["path"].startswith("/v1/"):
        length = request.headers.get("content-length")
        has_body = (length is not None and length != "0") or "transfer-encoding" in request.headers
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if has_body and media_type != "application/json" and not media_type.endswith("+json"):
            raise ApiError(
                f"Send the body as JSON with `Content-Type: application/json` (got {media_type or 'none'!r}).",
                code="unsupported_media_type",
                status=415,
                title="Unsupported media type",
            )


def refuse_nul_in_query(request: Request[Any, Any, Any]) -> None:
    """No text may hold NUL (hub.text), and that includes the query of a /v1 call. (Ids in the
    path are checked against their own form and answer 404 when they do not match.)"""
    if not request.scope["path"].startswith("/v1/"):
        return
    raw = request.scope["query_string"]
    if b"%00" not in raw and b"\x00" not in raw:
        return  # NUL can only arrive percent-encoded or raw: most queries need no parsing
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise FieldError(name.replace("\x00", ""), NUL_MESSAGE)


async def check_request(request: Request[Any, Any, Any]) -> None:
    """What every request must pass before its handler's arguments are read."""
    refuse_nul_in_query(request)
    await require_json_body(request)


def create_app(settings: Settings, *, database: Database | None = None) -> Litestar:
    settings = with_redis(settings)
    assert settings.redis_url is not None
    db = database or Database(settings.resolved_database_url)
    redis_client = connect(settings.redis_url)
    prometheus = PrometheusConfig(
        app_name="hub", prefix="hub", group_path=True, exclude=["^/metrics$"], middleware_class=RequestMetrics
    )

    relay = OutboxRelay(redis_client)
    keyring = keyring_for(settings)  # secrets at rest (stored idempotent answers, webhook secrets)
    connectors = Connectors(settings)  # this app's providers, each built on first use

    def on_startup(app: Litestar) -> None:
        # Blocking work that leaves the loop (``Database.run`` on PostgreSQL, the handlers that
        # Litestar runs in threads) shares the loop's default executor of ``handler_threads``
        # threads: a few threads do the work of many without the GIL contention (and
        # connection-pool queueing) of a large pool. What runs through anyio's own threads
        # (the metrics exposition) is capped at the same number instead of anyio's default 40.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.handler_threads
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(settings.handler_threads, thread_name_prefix="hub-handler")
        )
        add_problem_responses(app)
        describe_outside_routes(app)
        # Everything built so far (routes, schemas, mappers) lives as long as the process: keep
        # it out of the collector's full passes, which otherwise walk it again and again while
        # requests allocate (availability answers build thousands of objects each).
        gc.freeze()

    def on_shutdown(app: Litestar) -> None:
        relay.close()
        if database is None:
            db.dispose()
        redis_client.close()

    app = Litestar(
        route_handlers=[health, ready, MetricsController, oauth_callback, provider_webhook, api_router()],
        dependencies={
            "db": Provide(lambda: db, use_cache=True, sync_to_thread=False),
            "keyring": Provide(lambda: keyring, use_cache=True, sync_to_thread=False),
            "connectors": Provide(lambda: connectors, use_cache=True, sync_to_thread=False),
            "settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False),
        },
        middleware=[RequestContextMiddleware, prometheus.middleware, DefineMiddleware(ApiAuthMiddleware)],
        exception_handlers=exception_handlers,
        before_request=check_request,
        request_class=HubRequest,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Hub API",
            version=hub.__version__,
            description="Booking, availability and calendar integration API. See docs/ for the guide.",
            path="/schema",
            render_plugins=[JsonRenderPlugin(), SwaggerRenderPlugin()],
            components=Components(
                security_schemes={
                    "bearerAuth": SecurityScheme(type="http", scheme="bearer", bearer_format="hub_sk_...")
                }
            ),
            security=[{"bearerAuth": []}],
        ),
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        plugins=[DashboardPlugin(settings), TracingPlugin(), VersioningPlugin()],
        debug=False,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.redis = redis_client
    app.state.connectors = connectors
    app.state.relay = relay
    app.state.principals = PrincipalCache()  # keys seen in the last second (hub.auth.authenticate)
    app.state.rate_limiter = RateLimiter(redis_client, settings.rate_limit_per_minute)
    app.state.auth_failures = FailedAuthLimiter(
        redis_client, settings.auth_failures_per_minute, namespace="authfail:v1"
    )
    app.state.sign_in_failures = FailedAuthLimiter(
        redis_client, settings.sign_in_failures_per_minute, namespace="authfail:dashboard"
    )
    app.state.trusted_proxies = trusted_networks(settings.trusted_proxies)
    db.set_commit_hook("outbox", relay)
    return app


def app_from_env() -> Any:
    """Factory for ``uvicorn --factory`` (``hub serve``): settings from the environment."""
    settings = Settings.from_env()
    configure_logging(json=settings.log_format == "json", level=settings.log_level)
    return create_app(settings)
