"""``hub worker``: an RQ worker on Hub's queues, plus the cron thread.

Hub uses RQ's ``SimpleWorker`` (jobs run in the worker process, no fork per job): jobs are
short and I/O bound, and the database pool and Redis connections are reused across jobs
instead of being rebuilt in a forked child. A job's heartbeat TTL is its timeout plus 30 s, and
registries are cleaned every 15 s, so when a worker dies mid-job (even by SIGKILL) its job is
noticed as abandoned within about two minutes and retried by the next worker.

A worker is built with one ``JobContext`` (its settings, database, Redis and keyring) and runs
every job inside it (``hub.jobs.context``), with the job timeout of its own settings: a job
runs as long as the worker that runs it allows, whoever enqueued it.

Between two jobs RQ writes the worker's own record (heartbeat, state) several times, one Redis
round trip each; under load those writes were a third of a short job's round trips. The worker
sends them pipelined, skips a worker heartbeat when one went out less than
``HEARTBEAT_EVERY`` seconds ago (the record lives ``worker_ttl + 60`` s, minutes), and skips
setting a state the record already has. It asks whether workers are suspended (``rq suspend``;
a round trip with a heartbeat in it) at most every ``HEARTBEAT_EVERY`` seconds instead of
before every job, so a suspension stops it after at most that long and the job at hand. A job
that succeeded without a success callback skips RQ's job heartbeat at its end (kept for a
callback's run): the success pipeline saves the job hash with that heartbeat time anyway. The
started registry, job heartbeats during a job and every job's other bookkeeping are RQ's,
untouched.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import structlog
from redis.client import Pipeline
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from rq.utils import now

from hub.db import Database
from hub.jobs.context import JobContext, running
from hub.jobs.cron import CronLeader
from hub.jobs.queues import queues
from hub.jobs.relay import OutboxRelay
from hub.observability import job_metrics
from hub.redis import connect, with_redis
from hub.settings import Settings

log = structlog.get_logger("hub.worker")

MAINTENANCE_INTERVAL = 15
HEARTBEAT_GRACE = 30
HEARTBEAT_EVERY = 1.0  # seconds between the worker's own heartbeats while it is busy


class HubWorker(SimpleWorker):
    """An RQ worker that runs each job inside its ``context`` and stops it after the context's
    job timeout."""

    def __init__(self, *args: Any, context: JobContext, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context = context
        self.job_timeout = max(1, context.settings.job_timeout_seconds)
        self._last_beat = float("-inf")  # monotonic time of the last worker heartbeat
        self._last_suspension_check = float("-inf")

    def execute_job(self, job: Job, queue: Queue) -> None:
        job.timeout = self.job_timeout
        with running(self.context):
            super().execute_job(job, queue)

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return self.job_timeout + HEARTBEAT_GRACE

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """RQ's worker heartbeat, in one round trip, and not again within ``HEARTBEAT_EVERY``.

        RQ beats before and after every dequeue and after every job, besides the beat it
        pipelines with each suspension check; a beat with its own ``timeout`` or ``pipeline``
        (job preparation, the suspension check) always goes out."""
        if pipeline is not None or timeout is not None:
            if timeout is None:
                self._last_beat = time.monotonic()
            super().heartbeat(timeout, pipeline)
            return
        if time.monotonic() - self._last_beat < HEARTBEAT_EVERY:
            return
        self._last_beat = time.monotonic()
        with self.connection.pipeline(transaction=False) as pipe:
            super().heartbeat(None, pipe)
            pipe.execute()

    def check_for_suspension(self, burst: bool) -> None:
        """RQ's check for ``rq suspend`` (waiting while suspended), not again within
        ``HEARTBEAT_EVERY`` of the last one."""
        if time.monotonic() - self._last_suspension_check < HEARTBEAT_EVERY:
            return
        super().check_for_suspension(burst)
        self._last_suspension_check = time.monotonic()

    def handle_execution_ended(self, job: Job, queue: Queue, heartbeat_ttl: int) -> None:
        """RQ's end of execution: the job's end time and a heartbeat that keeps it alive while
        its callback runs. A job that succeeded and has no success callback skips that
        heartbeat's round trip: the success pipeline saves the job, its heartbeat with it."""
        if job.get_status(refresh=False) == JobStatus.FAILED or job.success_callback is not None:
            super().handle_execution_ended(job, queue, heartbeat_ttl)
            return
        job.ended_at = job.last_heartbeat = now()

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        """RQ's state write, skipped when the worker's record already holds ``state``."""
        if pipeline is None and state == self._state:
            return
        super().set_state(state, pipeline)

    def work(self, *args: Any, **kwargs: Any) -> bool:
        try:
            return super().work(*args, **kwargs)
        finally:  # job metrics not yet published (they go out at most once a second)
            job_metrics.publish(self.connection)


def build_worker(settings: Settings, **options: Any) -> tuple[HubWorker, JobContext]:
    settings = with_redis(settings)
    assert settings.redis_url is not None
    connection = connect(settings.redis_url, socket_timeout=None)
    ctx = JobContext(settings, Database(settings.resolved_database_url), connection)
    ctx.db.set_commit_hook("outbox", OutboxRelay(connection))
    worker = HubWorker(
        queues(connection),
        connection=connection,
        serializer=JSONSerializer,
        context=ctx,
        maintenance_interval=MAINTENANCE_INTERVAL,
        **options,
    )
    return worker, ctx


def run_worker(settings: Settings, *, burst: bool = False, with_cron: bool = True) -> int:
    worker, ctx = build_worker(settings)
    cron = CronLeader(ctx.redis) if with_cron else None
    if cron is not None:
        cron.start()
    log.info("worker.started", name=worker.name, queues=[q.name for q in worker.queues])
    # What is built by now (modules, mappers, compiled statements, the connectors) lives as long
    # as the process: keep it out of the collector's full passes, which every job's allocations
    # (MIME messages, ORM rows) otherwise trigger again and again.
    gc.freeze()
    try:
        worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
    finally:
        if cron is not None:
            cron.stop()
        ctx.db.dispose()
    return 0
