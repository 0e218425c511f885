"""Trace context across the job queue: W3C ``traceparent`` / ``tracestate`` in ``job.meta``.

Whoever enqueues a job puts the current context in its meta (``carrier()``); the job's span
(``job_span()``) continues that trace as a child. A job that is tried again stays in its trace
and is *linked* to the attempt before it, so a retry is visible as its own span next to the
failed one, never lost:

- RQ retrying the same job: the failed run appends its span context to ``meta["trace_links"]``
  (``remember_failed_attempt()``), and the next run links to it;
- a job that enqueues another run of its own function (a webhook delivery scheduling its next
  attempt): the new job keeps the current job's parent and
  links to the current run (``context_for()``).

With tracing off there is no valid span, so carriers are empty and nothing is stored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import redis
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind
from rq import get_current_job
from rq.job import Job

from hub.observability.tracing import tracer

TRACE_KEYS = ("traceparent", "tracestate")
LINKS_KEY = "trace_links"
MAX_LINKS = 5


def carrier() -> dict[str, str]:
    """The current span's context as W3C headers (empty outside a recorded span)."""
    if not trace.get_current_span().get_span_context().is_valid:
        return {}
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return {k: v for k, v in headers.items() if k in TRACE_KEYS}


def split(meta: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """``meta`` as (its trace keys, everything else)."""
    trace_keys = {k: v for k, v in meta.items() if k in TRACE_KEYS and isinstance(v, str)}
    return trace_keys, {k: v for k, v in meta.items() if k not in TRACE_KEYS}


def extract(meta: Mapping[str, Any]) -> Context | None:
    """The parent context stored in ``meta``, or None when it holds none."""
    trace_keys, _ = split(meta)
    return propagate.extract(trace_keys) if "traceparent" in trace_keys else None


def links(meta: Mapping[str, Any]) -> list[Link]:
    """Links to the earlier attempts recorded in ``meta``."""
    found = []
    for traceparent in meta.get(LINKS_KEY) or []:
        if not isinstance(traceparent, str):
            continue
        context = trace.get_current_span(propagate.extract({"traceparent": traceparent})).get_span_context()
        if context.is_valid:
            found.append(Link(context, {"hub.link": "previous_attempt"}))
    return found


def context_for(func_name: str) -> dict[str, Any]:
    """The trace keys for a job of ``func_name`` enqueued now.

    Inside a job of the same function it is another attempt of the same work: it keeps the
    current job's parent and links to the current run. Otherwise the current span is its parent.
    """
    current = carrier()
    job = get_current_job()
    if not current or job is None or job.func_name != func_name:
        return current
    parent, _ = split(job.meta)
    return {**parent, LINKS_KEY: [current["traceparent"]]}


@contextmanager
def job_span(kind: str, job: Job | None) -> Iterator[Span]:
    """The span of one run of a job: a consumer span in the trace its meta names."""
    meta: Mapping[str, Any] = job.meta if job is not None else {}
    attributes: dict[str, Any] = {"hub.job.kind": kind}
    if job is not None:
        attributes.update(
            {
                "messaging.system": "rq",
                "messaging.operation.type": "process",
                "messaging.destination.name": job.origin,
                "messaging.message.id": job.id,
            }
        )
        if job.retries_left is not None:
            attributes["hub.job.retries_left"] = job.retries_left
    with tracer().start_as_current_span(
        f"job {kind}",
        context=(extract(meta) or Context()) if job is not None else None,  # no parent: a new trace
        kind=SpanKind.CONSUMER,
        links=links(meta),
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def remember_failed_attempt(job: Job | None) -> None:
    """Before RQ retries ``job``, store the failed run's context so the next run links to it."""
    current = carrier()
    if job is None or not current:
        return
    previous = [t for t in job.meta.get(LINKS_KEY) or [] if isinstance(t, str)]
    job.meta[LINKS_KEY] = [*previous, current["traceparent"]][-MAX_LINKS:]
    with contextlib.suppress(redis.RedisError):  # the retry still runs in its trace, unlinked
        job.save_meta()  # type: ignore[no-untyped-call]
