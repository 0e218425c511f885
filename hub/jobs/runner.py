"""The job runner: how every Hub job is enqueued and how its errors are sorted.

``enqueue()`` puts a job on a queue with Hub's conventions: JSON arguments, a job id of
``[A-Za-z0-9_-]`` only, explicit result and failure TTLs, RQ ``Retry`` on a growing schedule,
and the request id (and trace context) of whoever caused it in ``job.meta``. How long a job may
run is not decided here but by the worker that runs it (``hub.jobs.worker``), from its settings.

Each run of a job is a span (``job <kind>``) in the trace of whatever enqueued it; a retried
job links to its failed run (``hub.observability.propagation``). After each run the process's
job metrics are added to the totals in Redis that ``/metrics`` reports
(``hub.observability.job_metrics``).

``@hub_job(kind)`` wraps each job function. It binds the log context, then lets only
transient failures escape to RQ (which retries them, and finally dead-letters them into the
failed registry); ``ReauthRequired``, ``PermanentError`` and ``SkippableError`` are logged
with their code, counted, and end the job normally — retrying cannot fix them, and the job's
own code has already recorded them where people look (the sync log, the delivery log). It
also registers the function in ``hub.jobs.registry``, under the path queues name it by.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

import redis
import structlog
from opentelemetry.trace import Span, Status, StatusCode
from prometheus_client import Counter, Histogram
from rq import Retry, get_current_job
from rq.job import Job

from hub.errors import PermanentError, PipelineError, ReauthRequired, SkippableError, TransientError
from hub.jobs.queues import DEFAULT, queue
from hub.jobs.registry import path_of, register
from hub.observability import job_metrics, propagation

P = ParamSpec("P")
R = TypeVar("R")

log = structlog.get_logger("hub.jobs")

RETRY_SCHEDULE = [60, 5 * 60, 30 * 60, 2 * 3600, 6 * 3600]  # minutes to hours
RESULT_TTL = 24 * 3600  # keep successful results a day, for the dashboard
FAILURE_TTL = 14 * 24 * 3600  # dead letters stay two weeks
QUEUED_TTL = 7 * 24 * 3600  # a job nobody ran in a week is dropped (the sweepers re-enqueue)

_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")

JOBS = Counter("hub_jobs_total", "Job executions by kind and outcome", ["kind", "outcome"])
JOB_SECONDS = Histogram("hub_job_duration_seconds", "Job run time by kind", ["kind"])


def job_id(*parts: str) -> str:
    """A job id from parts, reduced to RQ's allowed alphabet."""
    value = "-".join(re.sub(r"[^A-Za-z0-9_]", "_", p) for p in parts)
    if not _JOB_ID.match(value):
        raise ValueError(f"invalid job id {value!r}")
    return value


def enqueue(
    connection: redis.Redis,
    func: str | Callable[..., Any],
    *args: str | int | list[Any],
    queue_name: str = DEFAULT,
    id: str | None = None,
    retry: bool = True,
    delay: timedelta | None = None,
    meta: dict[str, Any] | None = None,
    pipeline: Any = None,
) -> Job:
    """Enqueue ``func(*args)`` with Hub's conventions; ``id`` makes the job unique while queued.

    ``meta`` overrides what the job inherits from the caller (request id, trace context)."""
    func_name = func if isinstance(func, str) else path_of(func)
    job_meta = {**_bound_context(), **propagation.context_for(func_name), **(meta or {})}
    options: dict[str, Any] = {
        "args": args,
        "job_id": id,
        "result_ttl": RESULT_TTL,
        "failure_ttl": FAILURE_TTL,
        "ttl": QUEUED_TTL,
        "meta": job_meta,
        "retry": Retry(max=len(RETRY_SCHEDULE), interval=RETRY_SCHEDULE) if retry else None,
    }
    if pipeline is not None:
        options["pipeline"] = pipeline
    q = queue(queue_name, connection)
    if delay is not None:
        return q.enqueue_in(delay, func, **options)  # type: ignore[type-var]  # RQ accepts import paths
    return q.enqueue(func, **options)  # type: ignore[type-var]


def propagated_context() -> dict[str, Any]:
    """What work caused here carries along: the request id and the trace context."""
    return {**_bound_context(), **propagation.carrier()}


def _bound_context() -> dict[str, Any]:
    bound = structlog.contextvars.get_contextvars()
    return {k: bound[k] for k in ("request_id",) if bound.get(k)}


def hub_job(kind: str) -> Callable[[Callable[P, R]], Callable[P, R | dict[str, str]]]:
    """Decorate a job entry point with Hub's error sorting, logging and metrics."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R | dict[str, str]]:
        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R | dict[str, str]:
            job = get_current_job()
            structlog.contextvars.clear_contextvars()
            context = {"job_id": job.id if job else None, "job_kind": kind}
            if job is not None:
                context.update({k: v for k, v in job.meta.items() if k == "request_id"})
            structlog.contextvars.bind_contextvars(**context)
            with propagation.job_span(kind, job) as span:
                started = time.perf_counter()
                outcome = "succeeded"
                try:
                    return fn(*args, **kwargs)
                except TransientError as exc:
                    outcome = "retried" if job is not None and (job.retries_left or 0) > 0 else "dead_lettered"
                    log.warning("job.transient_error", code=exc.code, error=exc.message, retry_after=exc.retry_after)
                    _trace_failure(span, job, outcome, exc)
                    raise
                except (ReauthRequired, PermanentError) as exc:
                    outcome = "failed"
                    log.warning("job.failed", code=exc.code, error=exc.message, error_class=type(exc).__name__)
                    span.set_status(Status(StatusCode.ERROR, exc.code))
                    return {"outcome": "failed", "code": exc.code, "error": exc.message}
                except SkippableError as exc:
                    outcome = "skipped"
                    log.info("job.skipped", code=exc.code, error=exc.message)
                    return {"outcome": "skipped", "code": exc.code, "error": exc.message}
                except PipelineError as exc:
                    outcome = "failed"
                    log.warning("job.failed", code=exc.code, error=exc.message)
                    span.set_status(Status(StatusCode.ERROR, exc.code))
                    return {"outcome": "failed", "code": exc.code, "error": exc.message}
                except Exception as exc:
                    # An unexpected bug or outage: retry on the schedule, then dead-letter.
                    outcome = "retried" if job is not None and (job.retries_left or 0) > 0 else "dead_lettered"
                    log.exception("job.crashed", error=type(exc).__name__)
                    _trace_failure(span, job, outcome, exc)
                    raise
                finally:
                    elapsed = time.perf_counter() - started
                    JOBS.labels(kind, outcome).inc()
                    JOB_SECONDS.labels(kind).observe(elapsed)
                    span.set_attribute("hub.job.outcome", outcome)
                    log.info("job.finished", outcome=outcome, duration_ms=round(elapsed * 1000, 1))
                    if job is not None:
                        job_metrics.publish_soon(job.connection)  # the API's /metrics reports job metrics

        register(run)
        return run

    return decorate


def _trace_failure(span: Span, job: Job | None, outcome: str, exc: BaseException) -> None:
    """Mark the run's span failed; a run RQ will retry leaves its context for the next run's link."""
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
    if outcome == "retried":
        propagation.remember_failed_attempt(job)
