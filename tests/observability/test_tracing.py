"""Tracing is off unless the standard OTLP variables ask for it; on, spans leave over OTLP/HTTP;
and log lines written inside a span carry its ids.

Whether tracing is on is decided once per process, so the on/off cases run in fresh processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from hub.observability.tracing import add_trace_ids, tracer
from tests.observability.conftest import SpanRecorder

PROBE = textwrap.dedent(
    """
    import json, pathlib, sys
    import sqlalchemy
    from hub.app import create_app
    from hub.db import Database
    from hub.observability import tracing
    from hub.observability.tracing import tracer
    from hub.redis import connect
    from hub.settings import Settings
    from hub import http

    db = Database(sys.argv[1])
    client = connect("redis://127.0.0.1:1/0")
    settings = Settings(data_dir=pathlib.Path(sys.argv[2]), redis_url="redis://127.0.0.1:1/0")
    app = create_app(settings, database=db)
    with tracer().start_as_current_span("probe"):
        with db.read() as session:
            session.execute(sqlalchemy.text("SELECT 1"))
    print(json.dumps({
        "enabled": tracing.enabled(),
        "engine_traced": getattr(db.engine, "_hub_traced", False),
        "redis_traced": getattr(client, "_is_instrumented_by_opentelemetry", False),
        "httpx_traced": getattr(http.client(), "_is_instrumented_by_opentelemetry", False),
        "server_traced": type(app.asgi_handler).__name__,
    }))
    """
)


class Collector:
    """A stand-in OTLP/HTTP receiver: keeps every export request it is sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                collector.requests.append((self.path, self.headers.get("content-type", ""), body))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector() -> Iterator[Collector]:
    found = Collector()
    yield found
    found.close()


def probe(tmp_path: Path, **env: str) -> dict[str, Any]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, f"sqlite:///{tmp_path / 'probe.db'}", str(tmp_path / "data")],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_tracing_is_off_without_an_endpoint(tmp_path: Path) -> None:
    found = probe(tmp_path)
    assert found == {
        "enabled": False,
        "engine_traced": False,
        "redis_traced": False,
        "httpx_traced": False,
        "server_traced": found["server_traced"],
    }
    assert found["server_traced"] != "OpenTelemetryInstrumentationMiddleware"


def test_an_endpoint_turns_tracing_on_and_spans_leave_over_otlp_http(tmp_path: Path, collector: Collector) -> None:
    found = probe(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=collector.url, OTEL_SERVICE_NAME="hub-probe")
    assert found["enabled"] is True
    assert found["engine_traced"] is True
    assert found["redis_traced"] is True
    assert found["httpx_traced"] is True
    assert found["server_traced"] == "OpenTelemetryInstrumentationMiddleware"
    # the batch processor flushed at exit
    assert collector.requests, "no spans were exported"
    path, content_type, body = collector.requests[0]
    assert path == "/v1/traces"
    assert content_type == "application/x-protobuf"
    export = ExportTraceServiceRequest.FromString(body)
    resource = export.resource_spans[0].resource
    assert {a.key: a.value.string_value for a in resource.attributes}["service.name"] == "hub-probe"
    names = {s.name for rs in export.resource_spans for ss in rs.scope_spans for s in ss.spans}
    assert "probe" in names
    assert any(name.startswith("SELECT") for name in names)  # the statement inside the span


def test_the_sdk_disabled_switch_wins(tmp_path: Path, collector: Collector) -> None:
    found = probe(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=collector.url, OTEL_SDK_DISABLED="true")
    assert found["enabled"] is False


def test_log_lines_inside_a_span_carry_its_ids(spans: SpanRecorder) -> None:
    assert add_trace_ids(None, "info", {"event": "outside"}) == {"event": "outside"}
    with tracer().start_as_current_span("work") as span:
        line = add_trace_ids(None, "info", {"event": "inside"})
    context = span.get_span_context()
    assert line == {
        "event": "inside",
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
    }
