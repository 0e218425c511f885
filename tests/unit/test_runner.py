"""``hub.jobs.runner.hub_job``: which failures escape to RQ (which retries them, then
dead-letters them) and which are recorded and end the job, with the outcome each one counts.

The jobs run through RQ's own ``Job.perform`` (so ``get_current_job`` sees them, with the
retries RQ has left) on a real Redis, and raise Hub's real error classes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from prometheus_client import REGISTRY
from rq import Retry
from rq.job import Job
from rq.serializers import JSONSerializer

from hub.connectors import ResyncRequired
from hub.errors import PermanentError, PipelineError, ReauthRequired, SkippableError, TransientError
from hub.jobs.runner import hub_job
from hub.redis import connect

KIND = "test.unit_sorting"


@hub_job(KIND)
def fails_with(error_class: str, message: str) -> str:
    """Raise ``error_class`` (a name in ``FAILURES``), or return ``message`` for ``"none"``."""
    if error_class == "none":
        return message
    raise FAILURES[error_class](message)


FAILURES: dict[str, type[Exception]] = {
    "TransientError": TransientError,
    "ReauthRequired": ReauthRequired,
    "PermanentError": PermanentError,
    "SkippableError": SkippableError,
    "PipelineError": PipelineError,
    "ResyncRequired": ResyncRequired,
    "RuntimeError": RuntimeError,
    "KeyError": KeyError,
}


@pytest.fixture
def connection(redis_url: str) -> Iterator[redis.Redis]:
    client = connect(redis_url, socket_timeout=None)
    yield client
    client.close()


def job(connection: redis.Redis, error_class: str, *, retries: int | None) -> Job:
    """A job of ``fails_with`` as RQ would run it, with ``retries`` runs left (None: no retry)."""
    return Job.create(
        fails_with,
        args=(error_class, f"the {error_class} {uuid.uuid4().hex[:6]}"),
        connection=connection,
        serializer=JSONSerializer,
        retry=Retry(max=retries) if retries else None,
    )


def counted(outcome: str) -> float:
    return REGISTRY.get_sample_value("hub_jobs_total", {"kind": KIND, "outcome": outcome}) or 0.0


@pytest.mark.parametrize("error_class", ["TransientError", "RuntimeError", "KeyError"])
def test_transient_failures_and_bugs_escape_to_rq_and_count_as_retried_while_retries_are_left(
    connection: redis.Redis, error_class: str
) -> None:
    before = counted("retried"), counted("dead_lettered")
    with pytest.raises(FAILURES[error_class]):
        job(connection, error_class, retries=2).perform()
    assert (counted("retried"), counted("dead_lettered")) == (before[0] + 1, before[1])


@pytest.mark.parametrize("error_class", ["TransientError", "RuntimeError"])
def test_the_last_run_of_an_escaping_failure_counts_as_dead_lettered(connection: redis.Redis, error_class: str) -> None:
    before = counted("retried"), counted("dead_lettered")
    with pytest.raises(FAILURES[error_class]):
        job(connection, error_class, retries=None).perform()
    assert (counted("retried"), counted("dead_lettered")) == (before[0], before[1] + 1)


@pytest.mark.parametrize(
    ("error_class", "outcome", "code"),
    [
        ("ReauthRequired", "failed", "reauth_required"),
        ("PermanentError", "failed", "permanent"),
        ("SkippableError", "skipped", "skipped"),
        # any other pipeline error cannot be fixed by retrying either: recorded, not retried
        ("PipelineError", "failed", "error"),
        ("ResyncRequired", "failed", "resync_required"),
    ],
)
def test_failures_retrying_cannot_fix_end_the_job_with_their_code(
    connection: redis.Redis, error_class: str, outcome: str, code: str
) -> None:
    before = counted(outcome), counted("retried")
    run = job(connection, error_class, retries=2)
    result = run.perform()  # nothing escapes: RQ sees a finished job and does not retry it
    assert result == {"outcome": outcome, "code": code, "error": run.args[1]}
    assert (counted(outcome), counted("retried")) == (before[0] + 1, before[1])


def test_a_code_given_when_raised_is_the_one_recorded() -> None:
    @hub_job(KIND)
    def refuse() -> None:
        raise PermanentError("the calendar is read-only", code="calendar_read_only")

    assert refuse() == {"outcome": "failed", "code": "calendar_read_only", "error": "the calendar is read-only"}


def test_a_job_that_returns_passes_its_value_through_and_counts_as_succeeded(connection: redis.Redis) -> None:
    before = counted("succeeded")
    run = job(connection, "none", retries=2)
    assert run.perform() == run.args[1]
    assert counted("succeeded") == before + 1


def test_outside_rq_an_escaping_failure_has_no_retry_left() -> None:
    """Called directly (no current RQ job), nothing can retry it: it counts as dead-lettered."""
    before = counted("dead_lettered")
    with pytest.raises(TransientError):
        fails_with("TransientError", "down")
    assert counted("dead_lettered") == before + 1
