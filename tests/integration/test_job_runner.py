"""The job runner's error taxonomy with a real Redis and RQ's own worker loop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis
from redis.connection import AbstractConnection
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from rq.serializers import JSONSerializer
from rq.suspension import resume

from hub.db import Database
from hub.jobs.context import context
from hub.jobs.queues import DEFAULT, queue
from hub.jobs.runner import RETRY_SCHEDULE, enqueue
from hub.jobs.worker import HEARTBEAT_EVERY, HubWorker
from hub.settings import Settings
from tests.support.workers import burst, hub_env, job_context


@pytest.fixture
def connection(settings: Settings, db: Database) -> Iterator[redis.Redis]:
    with job_context(settings, db) as client:
        yield client


def fetch(connection: redis.Redis, job_id: str) -> Job:
    return Job.fetch(job_id, connection=connection, serializer=JSONSerializer)


def test_transient_error_is_retried_on_the_schedule(connection: redis.Redis) -> None:
    tag = uuid.uuid4().hex
    job = enqueue(connection, "tests.support.jobs.transient", tag, id=f"t-{tag}")
    burst(connection, [DEFAULT])
    job = fetch(connection, job.id)
    assert connection.get(f"test:runs:{tag}") == b"1"
    assert job.get_status() == JobStatus.SCHEDULED
    assert job.retries_left == len(RETRY_SCHEDULE) - 1
    scheduled = ScheduledJobRegistry(queue=queue(DEFAULT, connection))
    assert job.id in scheduled.get_job_ids()
    # the first retry waits the first interval of the schedule (60 s), not zero
    when = scheduled.get_scheduled_time(job)
    assert when is not None


def test_permanent_error_is_recorded_and_not_retried(connection: redis.Redis) -> None:
    tag = uuid.uuid4().hex
    job = enqueue(connection, "tests.support.jobs.permanent", tag, id=f"p-{tag}")
    burst(connection, [DEFAULT])
    job = fetch(connection, job.id)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == {"outcome": "failed", "code": "refused", "error": "the other side said no"}
    assert connection.get(f"test:runs:{tag}") == b"1"
    assert job.id not in ScheduledJobRegistry(queue=queue(DEFAULT, connection)).get_job_ids()


def test_skippable_error_ends_the_job_normally(connection: redis.Redis) -> None:
    tag = uuid.uuid4().hex
    job = enqueue(connection, "tests.support.jobs.skippable", tag, id=f"s-{tag}")
    burst(connection, [DEFAULT])
    job = fetch(connection, job.id)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value()["outcome"] == "skipped"


def _hub(*args: str, settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **hub_env(settings, log_level="warning")}
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_dead_letter_is_listed_and_requeued_from_the_cli(connection: redis.Redis, settings: Settings) -> None:
    tag = uuid.uuid4().hex
    job = enqueue(connection, "tests.support.jobs.crash", tag, id=f"c-{tag}", retry=False)
    burst(connection, [DEFAULT])
    failed = FailedJobRegistry(queue=queue(DEFAULT, connection))
    assert job.id in failed.get_job_ids()

    listed = _hub("jobs", "failed", settings=settings)
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if line.startswith(job.id))
    assert "tests.support.jobs.crash" in line
    assert "RuntimeError: a bug" in line

    retried = _hub("jobs", "retry", job.id, settings=settings)
    assert retried.returncode == 0, retried.stderr
    assert job.id not in failed.get_job_ids()
    assert fetch(connection, job.id).get_status() == JobStatus.QUEUED
    burst(connection, [DEFAULT])
    assert connection.get(f"test:runs:{tag}") == b"2"  # it ran again

    missing = _hub("jobs", "retry", "no-such-job", settings=settings)
    assert missing.returncode == 1
    assert "No failed job" in missing.stderr


def test_job_ids_and_payloads_are_json(connection: redis.Redis) -> None:
    tag = uuid.uuid4().hex
    job = enqueue(connection, "tests.support.jobs.noop", tag, id=f"n-{tag}")
    raw = connection.hget(job.key, "data")
    assert raw is not None
    assert json.loads(zlib.decompress(raw))[0] == "tests.support.jobs.noop"  # JSON, not pickle
    assert job.result_ttl is not None
    assert job.failure_ttl is not None


def test_a_busy_worker_keeps_its_record_in_few_round_trips(
    connection: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RQ writes the worker's heartbeat and state several times around every job; Hub's worker
    pipelines them, and beats and checks for a suspension at most once a second, so a short job
    costs under half the Redis round trips, and the worker's record still says it is alive."""
    jobs = 100
    for i in range(jobs):
        enqueue(connection, "tests.support.jobs.noop", f"{uuid.uuid4().hex}-{i}", queue_name=DEFAULT)
    round_trips = 0
    me = threading.get_ident()
    send = AbstractConnection.send_packed_command

    def counted(self: AbstractConnection, command: object, check_health: bool = True) -> None:
        nonlocal round_trips
        round_trips += threading.get_ident() == me
        send(self, command, check_health)  # type: ignore[arg-type]

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    worker = HubWorker(
        [queue(DEFAULT, connection)], connection=connection, serializer=JSONSerializer, context=context()
    )
    started = datetime.now(UTC)
    worker.work(burst=True, logging_level="ERROR", with_scheduler=False)
    monkeypatch.undo()
    assert round_trips / jobs <= 8.8  # RQ's own loop makes 20 per job
    record = connection.hgetall(worker.key)
    assert record[b"last_heartbeat"] >= started.strftime("%Y-%m-%dT%H:%M:%S").encode()


def test_a_suspension_stops_a_busy_worker_within_a_second(connection: redis.Redis) -> None:
    """The worker asks whether workers are suspended at most once a second, not before every
    job: a suspension made while it works stops it after the job at hand within that second."""
    tag, jobs = uuid.uuid4().hex, 8  # 0.3 s each
    for i in range(jobs):
        enqueue(connection, "tests.support.jobs.suspend_workers", tag, queue_name=DEFAULT, id=f"s-{tag}-{i}")
    worker = HubWorker(
        [queue(DEFAULT, connection)], connection=connection, serializer=JSONSerializer, context=context()
    )
    try:
        worker.work(burst=True, logging_level="ERROR", with_scheduler=False)  # a suspended burst worker exits
        runs = int(connection.get(f"test:runs:{tag}") or 0)
        left = queue(DEFAULT, connection).count
    finally:  # the jobs left would suspend the next test's workers
        queue(DEFAULT, connection).empty()
        resume(connection)
    assert 1 <= runs <= 1 + HEARTBEAT_EVERY / 0.3 + 1
    assert left == jobs - runs  # the rest wait for `rq resume`
