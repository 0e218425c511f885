"""Job throughput: Hub's runner vs raw RQ, same worker class, same Redis, one run.

    .venv/bin/python bench/jobs.py [--jobs 3000] [--redis-url redis://...]

Enqueues N no-op jobs (JSON serializer) and times a burst worker (Hub's ``HubWorker``, an RQ
``SimpleWorker``) draining them: once with a plain function enqueued with plain RQ, once with a
``@hub_job`` function enqueued through ``hub.jobs.runner.enqueue`` (retry policy, TTLs, meta,
log binding, metrics). Prints jobs/s for both and the ratio (target: Hub >= 80% of raw).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rq import Queue
from rq.serializers import JSONSerializer

from hub.db import Database
from hub.jobs.context import JobContext
from hub.jobs.runner import enqueue
from hub.jobs.worker import HubWorker
from hub.observability.logging import configure_logging
from hub.redis import connect, start_embedded
from hub.settings import Settings


def drain(context: JobContext, queue: Queue) -> float:
    worker = HubWorker([queue], connection=context.redis, serializer=JSONSerializer, context=context)
    started = time.perf_counter()
    worker.work(burst=True, logging_level="ERROR")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    configure_logging(json=True, level="warning")
    logging.getLogger("rq").setLevel(logging.ERROR)
    data_dir = Path(tempfile.mkdtemp())
    url = args.redis_url or start_embedded(data_dir / "redis")
    connection = connect(url, socket_timeout=None)
    settings = Settings(data_dir=data_dir, redis_url=url)
    context = JobContext(settings, Database(settings.resolved_database_url), connection)
    results = {}
    for label in ("raw", "hub", "raw", "hub"):  # interleave to even out warm-up
        name = f"bench-{label}"
        queue = Queue(name, connection=connection, serializer=JSONSerializer)
        queue.empty()
        for i in range(args.jobs):
            if label == "raw":
                queue.enqueue("bench.jobs_noop.raw_noop", str(i), result_ttl=60)
            else:
                enqueue(connection, "bench.jobs_noop.hub_noop", str(i), queue_name=name)
        seconds = drain(context, queue)
        results.setdefault(label, []).append(args.jobs / seconds)
    raw, hub = max(results["raw"]), max(results["hub"])
    print(
        f"jobs: raw RQ {raw:,.0f} jobs/s, Hub runner {hub:,.0f} jobs/s -> {hub / raw:.0%} of raw "
        f"(target >= 80%; {args.jobs} no-op jobs, HubWorker/SimpleWorker, JSON)"
    )


if __name__ == "__main__":
    main()
