"""Hub's jobs in tests: run in-process by an RQ burst worker, or by a real ``hub worker``.

``run_jobs`` is the one in-process worker: a ``HubWorker`` burst over Hub's queues (or the
named ones) running each job in the job context of the given settings, database and Redis, as
a worker process would. ``drain_jobs`` repeats it until a live server's outbox relay has
nothing left to hand over. ``hub_env`` is the environment that gives a ``hub`` process the
same settings as a test's server; ``WorkerProcess`` runs ``hub worker`` with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import msgspec
import redis
from rq.serializers import JSONSerializer

from hub.db import Database
from hub.jobs.context import JobContext, context, running
from hub.jobs.queues import queue, queues
from hub.jobs.worker import HubWorker
from hub.redis import connect
from hub.settings import Settings
from tests.support.servers import LiveServer


@contextmanager
def job_context(settings: Settings, db: Database) -> Iterator[redis.Redis]:
    """A Redis client on ``settings``' Redis, with ``settings`` and ``db`` as the job context of
    the block (what a worker has), for tests that enqueue and run jobs themselves."""
    client = connect(settings.redis_url or "", socket_timeout=None)
    try:
        with running(JobContext(settings, db, client)):
            yield client
    finally:
        client.close()


def run_jobs(
    settings: Settings, db: Database, connection: redis.Redis, queue_names: Sequence[str] | None = None
) -> None:
    """Run the queued jobs in-process until the queues are empty (jobs scheduled for later stay
    scheduled), with ``settings``, ``db`` and ``connection`` as the jobs' context."""
    burst(connection, queue_names, job_context=JobContext(settings, db, connection))


def burst(
    connection: redis.Redis,
    queue_names: Sequence[str] | None = None,
    *,
    job_context: JobContext | None = None,
    max_jobs: int | None = None,
) -> None:
    """``run_jobs`` in ``job_context`` (by default the one the caller runs in), at most ``max_jobs``."""
    selected = queues(connection) if queue_names is None else [queue(name, connection) for name in queue_names]
    HubWorker(selected, connection=connection, serializer=JSONSerializer, context=job_context or context()).work(
        burst=True, logging_level="ERROR", with_scheduler=False, max_jobs=max_jobs
    )


class HubWithJobs(Protocol):
    settings: Settings
    db: Database
    redis: redis.Redis
    server: LiveServer


def drain_jobs(world: HubWithJobs) -> None:
    """Run Hub's queued jobs in-process until none are left. The server's outbox relay hands
    committed events to RQ from a background thread, so each round first waits for it to be
    idle."""
    ctx = JobContext(world.settings, world.db, world.redis)
    for _ in range(10):
        assert world.server.app.state.relay.wait_idle(10), "the outbox relay did not hand its events over"
        if not any(q.count for q in queues(world.redis)):
            return
        burst(world.redis, job_context=ctx)
    raise AssertionError("Hub's queues did not drain in ten bursts")


def hub_env(settings: Settings, **changes: Any) -> dict[str, str]:
    """The ``HUB_*`` variables under which a ``hub`` process reads ``settings`` (with
    ``changes``, by field name): ``Settings.from_env`` reads ``HUB_<FIELD>`` for every field,
    so each one that differs from its default is set, and reading them back must give ``settings``."""
    wanted = msgspec.structs.replace(settings, **changes)
    env: dict[str, str] = {}
    for field in msgspec.structs.fields(wanted):
        value = wanted.resolved_database_url if field.name == "database_url" else getattr(wanted, field.name)
        if value is None or value == field.default:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, tuple):
            text = ",".join(value)
        else:
            text = str(value)
        env[f"HUB_{field.name.upper()}"] = text
    read = Settings.from_env(env)
    assert read == msgspec.structs.replace(wanted, database_url=wanted.resolved_database_url), (read, wanted)
    return env


class WorkerProcess:
    """A real ``hub worker`` process; ``env`` comes on top of this process's environment."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "worker"], env=self.env, stdout=log, stderr=log
        )
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)
        self.process = None
