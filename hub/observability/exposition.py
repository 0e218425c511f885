"""``GET /metrics``: the server's own metrics, the job metrics every worker shares through
Redis, and the gauges read at scrape time.

The server's counters and histograms live in the process registry (with ``hub serve
--workers N``, in ``PROMETHEUS_MULTIPROC_DIR``, summed over the server processes). Job metrics
come from Redis (``hub.observability.job_metrics``). The scrape-time gauges
(``hub.observability.collectors``) are read through the serving app's own database and Redis
client. Both are put together per scrape, so nothing is registered globally: a process that
builds many apps (tests) registers nothing twice, and each app reports its own Redis and database.
"""

from __future__ import annotations

import os
from typing import Any

import anyio.to_thread
from litestar import Request, get
from litestar.plugins.prometheus import PrometheusController
from litestar.response import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from hub.observability.collectors import PipelineCollector
from hub.observability.job_metrics import SharedJobMetrics, WithoutShared, publish

MULTIPROC_ENV = ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")  # the old spelling still works


class MetricsController(PrometheusController):
    path = "/metrics"
    include_in_schema = True

    @get()
    async def get(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        return Response(
            await anyio.to_thread.run_sync(exposition, request.app.state.db, request.app.state.redis),
            headers={"Content-Type": CONTENT_TYPE_LATEST},
        )


def exposition(db: Any, connection: Any) -> bytes:
    """The text exposition of everything ``/metrics`` reports (blocking: reads the database and Redis).

    This process's own increments of the shared families (``hub_holds_total``, counted by the
    API and by a job) are added to the shared totals first, so the answer includes them."""
    publish(connection)
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(WithoutShared(_process_registry()))
    scrape.register(PipelineCollector(db, connection))
    scrape.register(SharedJobMetrics(connection))
    return generate_latest(scrape)


def _process_registry() -> CollectorRegistry:
    """This process's metrics, or with several server processes all of theirs, summed."""
    if not any(name in os.environ for name in MULTIPROC_ENV):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry
