"""Tracing: OpenTelemetry, exported over OTLP/HTTP when the standard variables ask for it.

Tracing is off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``)
is set, and ``OTEL_SDK_DISABLED`` is not ``true``. Off means no SDK provider is installed: every
tracer is the API's no-op tracer, and the instrumentation hooks (``hub.observability.instrument``)
install nothing. ``configure()`` runs once per process, the first time anything asks; the
exporter reads the rest of the standard ``OTEL_EXPORTER_OTLP_*`` variables itself.

Spans without a parent that only call out (a Redis command of the worker's polling loop, a pool
ping) would each be a trace of their own; the sampler drops them. Everything else is sampled
by ``OTEL_TRACES_SAMPLER_ARG`` (a ratio, 1.0 when unset) at the root and follows its parent below.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Tracer

from hub.observability._sdk import add_otlp_exporter
from hub.observability._sdk import build_provider as build

TRACER_NAME = "hub"
_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")

_lock = threading.Lock()
_configured = threading.Event()  # the OTel provider is per process (its API has one global)


def enabled() -> bool:
    """Whether a real (SDK) tracer provider is installed in this process."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider)


def tracer() -> Tracer:
    return trace.get_tracer(TRACER_NAME)


def configure(environ: Mapping[str, str] | None = None) -> bool:
    """Install the OTLP exporter if the environment asks for it (once per process); returns
    whether tracing is on."""
    if _configured.is_set() or enabled():
        return enabled()
    with _lock:
        if _configured.is_set():
            return enabled()
        _configured.set()
        env = os.environ if environ is None else environ
        if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return False
        if not any(env.get(name, "").strip() for name in _ENDPOINTS):
            return False

        provider = build_provider(environ=env)
        add_otlp_exporter(provider)
        install(provider)
        return True


def build_provider(*, environ: Mapping[str, str] | None = None) -> Any:
    """An SDK tracer provider with Hub's resource and sampler (and no span processor yet)."""

    return build(os.environ if environ is None else environ)


def install(provider: Any) -> None:
    """Make ``provider`` the process's tracer provider (OpenTelemetry allows this once)."""
    trace.set_tracer_provider(provider)


def current_trace_id() -> str | None:
    """The 32-hex-digit id of the active trace, or None outside a recorded span."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def add_trace_ids(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: ``trace_id`` and ``span_id`` on every line logged inside a span."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event
