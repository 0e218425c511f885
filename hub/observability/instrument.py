"""Instrumentation hooks for the clients Hub builds: database engines, Redis clients, httpx
clients. Each hook asks ``tracing.configure()`` first and does nothing when tracing is off, so
an untraced process runs exactly the uninstrumented code. Instrumentation is per object (never
a global patch), so each engine and client is traced once however many apps a process builds.
"""

from __future__ import annotations

from typing import Any

import httpx
import redis
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.instrumentation.sqlalchemy.version import __version__
from opentelemetry.metrics import get_meter
from opentelemetry.trace import get_tracer
from sqlalchemy.engine import Engine

from hub.observability import tracing


def instrument_engine(engine: Engine) -> None:
    """A span per SQL statement on ``engine`` (the statement text, never its parameters)."""
    if not tracing.configure() or getattr(engine, "_hub_traced", False):
        return

    meter = get_meter("opentelemetry.instrumentation.sqlalchemy", __version__)
    usage = meter.create_up_down_counter("db.client.connections.usage", unit="connections")
    EngineTracer(  # type: ignore[no-untyped-call]
        get_tracer("opentelemetry.instrumentation.sqlalchemy", __version__), engine, usage
    )
    engine._hub_traced = True  # type: ignore[attr-defined]


def instrument_redis(client: redis.Redis) -> None:
    """A span per Redis command and per pipeline sent through ``client``."""
    if not tracing.configure():
        return

    if not getattr(client, "_is_instrumented_by_opentelemetry", False):
        RedisInstrumentor.instrument_client(client)


def instrument_httpx(client: httpx.Client) -> None:
    """A client span per request sent through ``client`` (method, URL without query, status);
    it also sends ``traceparent``, so a traced receiver continues the trace."""
    if not tracing.configure():
        return

    HTTPXClientInstrumentor.instrument_client(client, request_hook=_drop_query)


def _drop_query(span: Any, request: Any) -> None:
    """Provider URLs carry sync and page tokens in the query, client webhook URLs sometimes a
    secret: traces keep the URL without its query."""
    if not span.is_recording():
        return
    recorded = getattr(span, "attributes", None) or {}
    for key in ("url.full", "http.url"):
        value = recorded.get(key)
        if isinstance(value, str) and "?" in value:
            span.set_attribute(key, value.split("?", 1)[0])
