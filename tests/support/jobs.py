"""Job functions for pipeline tests; a real ``hub worker`` imports them by path."""

from __future__ import annotations

import time

from rq import get_current_job
from rq.suspension import suspend

from hub.errors import PermanentError, SkippableError, TransientError
from hub.jobs.context import context
from hub.jobs.runner import hub_job


@hub_job("test.transient")
def transient(tag: str) -> None:
    context().redis.incr(f"test:runs:{tag}")
    raise TransientError("the other side is down", code="upstream_down", retry_after=1)


@hub_job("test.permanent")
def permanent(tag: str) -> None:
    context().redis.incr(f"test:runs:{tag}")
    raise PermanentError("the other side said no", code="refused")


@hub_job("test.skippable")
def skippable(tag: str) -> None:
    context().redis.incr(f"test:runs:{tag}")
    raise SkippableError("already gone", code="gone")


@hub_job("test.crash")
def crash(tag: str) -> None:
    context().redis.incr(f"test:runs:{tag}")
    raise RuntimeError("a bug")


@hub_job("test.suspend_workers")
def suspend_workers(tag: str) -> None:
    """Count the run, suspend every worker (``rq suspend``) and take a while."""
    ctx = context()
    ctx.redis.incr(f"test:runs:{tag}")
    suspend(ctx.redis)
    time.sleep(0.3)


@hub_job("test.noop")
def noop(tag: str) -> str:
    return tag


@hub_job("test.report")
def report(tag: str) -> None:
    """Record what the job saw of its process: the worker's settings and its job timeout."""
    ctx, job = context(), get_current_job()
    assert job is not None
    ctx.redis.hset(f"test:report:{tag}", mapping={"data_dir": str(ctx.settings.data_dir), "timeout": str(job.timeout)})
