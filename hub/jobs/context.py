"""What a job needs from its process: settings, the database, Redis, the keyring, the connectors.

A worker (``hub.jobs.worker.HubWorker``) is built with one ``JobContext`` from the settings it
was started with, and runs every job inside it; jobs ask for it with ``context()``. Jobs
receive only JSON arguments (ids), never live objects. Nothing is built from the environment
behind a job's back: outside a worker's run (or a ``running(ctx)`` block) ``context()`` fails,
so two workers in one process never see each other's settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property

import redis

from hub.connectors import Connectors
from hub.crypto import Keyring, keyring_for
from hub.db import Database
from hub.settings import Settings


@dataclass
class JobContext:
    settings: Settings
    db: Database
    redis: redis.Redis
    keyring: Keyring = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.keyring = keyring_for(self.settings)  # built once per context, not per job

    @cached_property
    def connectors(self) -> Connectors:
        """This process's connectors, each built once and shared by its jobs."""
        return Connectors(self.settings)


_running: ContextVar[JobContext] = ContextVar("hub_job_context")


class NoJobContext(RuntimeError):
    """A job ran outside a Hub worker (or a ``running(ctx)`` block)."""


@contextmanager
def running(ctx: JobContext) -> Iterator[JobContext]:
    """Run the block (a job) with ``ctx`` as its context; the previous one is back afterwards."""
    token = _running.set(ctx)
    try:
        yield ctx
    finally:
        _running.reset(token)


def context() -> JobContext:
    """The context of the job that is running."""
    try:
        return _running.get()
    except LookupError:
        raise NoJobContext(
            "no job context: Hub jobs run on a Hub worker (hub worker), which gives each its context"
        ) from None
