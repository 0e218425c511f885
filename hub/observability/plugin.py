"""Request tracing for the app: Litestar's OpenTelemetry middleware, when tracing is on.

Each request is a server span, continued from an incoming ``traceparent`` when the caller
sends one. The span starts before routing, so it is renamed to the route template once the
route is known (``POST /v1/bookings/{booking_id}/cancel``, never a concrete id). Probes and
scrapes (``/health``, ``/ready``, ``/metrics``) are not traced. At shutdown (after the outbox
relay has drained) the spans still batched are exported. With tracing off the plugin adds
nothing to the app.
"""

from __future__ import annotations

from typing import Any

from litestar.config.app import AppConfig
from litestar.middleware import DefineMiddleware
from litestar.plugins import InitPluginProtocol
from litestar.plugins.opentelemetry import OpenTelemetryConfig
from litestar.types import ASGIApp, Receive, Scope, Send
from opentelemetry import trace

from hub.observability import tracing

UNTRACED = ["^/health$", "^/ready$", "^/metrics$"]


class TracingPlugin(InitPluginProtocol):
    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        if not tracing.configure():
            return app_config

        config = OpenTelemetryConfig(
            exclude=UNTRACED,
            exclude_spans=["receive", "send"],
            scope_span_details_extractor=_span_details,
        )
        # Litestar lifts the OpenTelemetry middleware out of the list and wraps the whole app
        # with it; the renaming middleware runs after routing, inside the server span.
        app_config.middleware = [DefineMiddleware(RouteSpanName), *app_config.middleware, config.middleware]
        app_config.on_shutdown.append(_flush)
        return app_config


def _flush() -> None:
    """Export the spans still batched: ``hub serve`` ends by re-raising SIGTERM, which skips the
    exit handlers that would otherwise flush them."""
    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if flush is not None:
        flush(5000)


def _span_details(scope: Any) -> tuple[str, dict[str, Any]]:
    """The span's name before routing: the method only (a path would carry ids)."""
    return str(scope.get("method") or scope.get("type") or "HTTP"), {}


class RouteSpanName:
    """Name the server span after the matched route template and set ``http.route``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        template = scope.get("path_template")
        span = trace.get_current_span()
        if template and span.is_recording():
            method = scope.get("method")
            span.update_name(f"{method} {template}" if method else str(template))
            span.set_attribute("http.route", str(template))
        await self.app(scope, receive, send)
