"""The dead-letter queue: RQ's failed registries, listed and requeued (CLI and dashboard)."""

from __future__ import annotations

from datetime import datetime

import msgspec
import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from hub.jobs.queues import ALL, queue


class DeadLetter(msgspec.Struct):
    job_id: str
    queue: str
    function: str
    args: list[object]
    failed_at: datetime | None
    error: str  # the last line of the traceback
    traceback: str
    request_id: str | None


def _summary(exc_info: str | None) -> str:
    lines = [line for line in (exc_info or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"


def list_failed(connection: redis.Redis) -> list[DeadLetter]:
    found: list[DeadLetter] = []
    for name in ALL:
        registry = FailedJobRegistry(queue=queue(name, connection))
        for job_id in registry.get_job_ids():
            try:
                job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
            except NoSuchJobError:
                continue
            result = job.latest_result()
            exc_info = result.exc_string if result is not None else job.exc_info
            found.append(
                DeadLetter(
                    job_id=job.id,
                    queue=name,
                    function=job.func_name or "",
                    args=list(job.args),
                    failed_at=job.ended_at,
                    error=_summary(exc_info),
                    traceback=exc_info or "",
                    request_id=job.meta.get("request_id"),
                )
            )
    return sorted(found, key=lambda d: d.failed_at.timestamp() if d.failed_at else 0.0, reverse=True)


def requeue(connection: redis.Redis, job_id: str) -> bool:
    """Requeue one dead letter; False if no failed job has that id."""
    for name in ALL:
        registry = FailedJobRegistry(queue=queue(name, connection))
        if job_id in registry.get_job_ids():
            registry.requeue(job_id)
            return True
    return False


def requeue_all(connection: redis.Redis) -> int:
    count = 0
    for name in ALL:
        registry = FailedJobRegistry(queue=queue(name, connection))
        for job_id in registry.get_job_ids():
            registry.requeue(job_id)
            count += 1
    return count
