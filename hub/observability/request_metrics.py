"""Request metrics: Litestar's Prometheus middleware, with each label set's series looked up once.

The metrics are Litestar's own (``hub_requests_total``, ``hub_request_duration_seconds``,
``hub_requests_in_progress``, ``hub_requests_error_total``; labels ``method``, ``path`` (the
route template), ``status_code``, ``app_name``), created by the parent class. What differs is
the cost per request: the parent builds a ``Request``, a label dict and resolves every series
with ``labels(...)`` four times per request; here a route's series are resolved on its first
request and kept, so a request costs two dict lookups and the updates themselves.
"""

from __future__ import annotations

import time
from typing import Any

from litestar.plugins.prometheus import PrometheusConfig, PrometheusMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

_SERVER_ERROR = 500


class _Series:
    """The series of one (method, route, status) label set."""

    __slots__ = ("count", "duration", "errors")

    def __init__(self, count: Any, duration: Any, errors: Any) -> None:
        self.count = count
        self.duration = duration
        self.errors = errors


class RequestMetrics(PrometheusMiddleware):
    def __init__(self, app: ASGIApp, config: PrometheusConfig) -> None:
        super().__init__(app, config)
        labels: dict[str, str | int | float] = {"method": "", "path": "", "status_code": 200, "app_name": ""}
        self._count = self.request_count(labels)
        self._duration = self.request_time(labels)
        self._errors = self.requests_error_count(labels)
        self._in_progress_metric = self.requests_in_progress(labels)
        self._in_progress: dict[tuple[str, str], Any] = {}
        self._series: dict[tuple[str, str, int], _Series] = {}

    def _gauge(self, method: str, path: str) -> Any:
        gauge = self._in_progress.get((method, path))
        if gauge is None:
            gauge = self._in_progress[(method, path)] = self._in_progress_metric.labels(
                method, path, 200, self._config.app_name
            )
        return gauge

    def _series_for(self, method: str, path: str, status: int) -> _Series:
        series = self._series.get((method, path, status))
        if series is None:
            values = (method, path, status, self._config.app_name)
            series = self._series[(method, path, status)] = _Series(
                self._count.labels(*values), self._duration.labels(*values), self._errors.labels(*values)
            )
        return series

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = str(scope.get("method") or scope["type"])
        path = scope["path_template"] if self._config.group_path else scope["path"]
        started = time.perf_counter()
        span = [200, 0.0]  # status, duration

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                span[0] = message["status"]
            elif message["type"] == "http.response.body":
                span[1] = time.perf_counter() - started
            await send(message)

        gauge = self._gauge(method, path)
        gauge.inc()
        try:
            await self.app(scope, receive, timed_send)
        finally:
            gauge.dec()
            status = int(span[0])
            series = self._series_for(method, path, status)
            if status >= _SERVER_ERROR:
                series.errors.inc()
            series.count.inc()
            series.duration.observe(span[1])
