"""The OpenTelemetry SDK pieces Hub uses when tracing is on: provider, sampler, exporter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult, TraceIdRatioBased
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

DEFAULT_SERVICE_NAME = "hub"


class SkipOrphanClientSpans(Sampler):
    """The root sampler: drop root spans of outgoing calls (they belong to no request or job),
    sample every other root by ``ratio``."""

    def __init__(self, ratio: float = 1.0) -> None:
        self._ratio = TraceIdRatioBased(min(max(ratio, 0.0), 1.0))

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        if kind is SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return self._ratio.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"SkipOrphanClientSpans{{{self._ratio.get_description()}}}"


def _ratio(environ: Mapping[str, str]) -> float:
    try:
        return float(environ.get("OTEL_TRACES_SAMPLER_ARG") or 1.0)
    except ValueError:
        return 1.0


def build_provider(environ: Mapping[str, str]) -> TracerProvider:
    resource = Resource.create({SERVICE_NAME: environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME})
    return TracerProvider(resource=resource, sampler=ParentBased(root=SkipOrphanClientSpans(_ratio(environ))))


def add_otlp_exporter(provider: TracerProvider) -> None:
    """Batch spans to the OTLP/HTTP endpoint named by the standard ``OTEL_EXPORTER_OTLP_*``
    variables; the provider flushes them when the process exits."""

    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
