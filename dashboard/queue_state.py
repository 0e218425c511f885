"""The job queues as one organization may see them: depths, running jobs, dead letters.

Queues are shared by every organization, so the depth table (numbers only) shows the whole
Hub. Jobs are shown one by one only when they belong to the viewer's organization: every
argument that is a Hub id (``con_...``, ``cal_...``, ``whd_...``) is looked up, and a job is
visible when all of them belong to the organization. Jobs without any id argument (the
periodic sweeps) concern no organization and are shown to everyone. Retrying goes through
``hub.jobs.dead_letters`` after the same check; another organization's job answers "not found".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec
import redis
from rq.job import Job
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import select

from hub.db import Database
from hub.db.tables import (
    ApiKey,
    Booking,
    Calendar,
    Connection,
    InboundNotification,
    OutboxMessage,
    PushChannel,
    SyncRun,
    User,
    WebhookDelivery,
    WebhookEndpoint,
)
from hub.ids import PREFIXES, is_valid
from hub.jobs import dead_letters
from hub.jobs.dead_letters import DeadLetter
from hub.jobs.queues import ALL, queue

# kind of id -> (id column, organization column, join needed to reach the organization)
_OWNERS: dict[str, tuple[Any, Any, Any]] = {
    "organization": (None, None, None),
    "connection": (Connection.id, Connection.organization_id, None),
    "calendar": (Calendar.id, Connection.organization_id, (Connection, Connection.id == Calendar.connection_id)),
    "notification": (
        InboundNotification.id,
        Connection.organization_id,
        (Connection, Connection.id == InboundNotification.connection_id),
    ),
    "channel": (PushChannel.id, Connection.organization_id, (Connection, Connection.id == PushChannel.connection_id)),
    "outbox": (OutboxMessage.id, OutboxMessage.organization_id, None),
    "webhook_delivery": (WebhookDelivery.id, WebhookDelivery.organization_id, None),
    "webhook_endpoint": (WebhookEndpoint.id, WebhookEndpoint.organization_id, None),
    "booking": (Booking.id, Booking.organization_id, None),
    "user": (User.id, User.organization_id, None),
    "sync_run": (SyncRun.id, SyncRun.organization_id, None),
    "api_key": (ApiKey.id, ApiKey.organization_id, None),
}


class QueueDepth(msgspec.Struct, frozen=True):
    name: str
    queued: int
    scheduled: int
    running: int
    failed: int


class RunningJob(msgspec.Struct, frozen=True):
    job_id: str
    queue: str
    function: str
    args: list[object]
    started_at: datetime | None
    worker: str | None


def _kind(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return next((kind for kind in PREFIXES if is_valid(value, kind)), None)


def owners(db: Database, values: Iterable[object]) -> dict[str, str]:
    """The organization of each Hub id among ``values`` (ids that resolve to none are left out)."""
    by_kind: dict[str, set[str]] = {}
    for value in values:
        kind = _kind(value)
        if kind is not None:
            by_kind.setdefault(kind, set()).add(str(value))
    found: dict[str, str] = {value: value for value in by_kind.pop("organization", set())}
    with db.read() as session:
        for kind, ids in by_kind.items():
            if kind not in _OWNERS:
                continue
            id_column, org_column, join = _OWNERS[kind]
            query = select(id_column, org_column)
            if join is not None:
                query = query.join(*join)
            found.update(session.execute(query.where(id_column.in_(ids))).all())
    return found


def _visible(args: list[object], organization_id: str, known: dict[str, str]) -> bool:
    ids = [str(a) for a in args if _kind(a) is not None]
    return all(known.get(value) == organization_id for value in ids)


def depths(connection: redis.Redis) -> list[QueueDepth]:
    rows = []
    for name in ALL:
        q = queue(name, connection)
        rows.append(
            QueueDepth(
                name=name,
                queued=q.count,
                scheduled=q.scheduled_job_registry.count,
                running=StartedJobRegistry(queue=q).count,
                failed=FailedJobRegistry(queue=q).count,
            )
        )
    return rows


def running(db: Database, connection: redis.Redis, organization_id: str) -> list[RunningJob]:
    jobs: list[tuple[str, Job]] = []
    for name in ALL:
        q = queue(name, connection)
        ids = StartedJobRegistry(queue=q).get_job_ids()
        fetched = Job.fetch_many(ids, connection=connection, serializer=JSONSerializer) if ids else []
        jobs.extend((name, job) for job in fetched if job is not None)
    known = owners(db, [arg for _name, job in jobs for arg in job.args])
    return [
        RunningJob(
            job_id=job.id,
            queue=name,
            function=job.func_name or "",
            args=list(job.args),
            started_at=job.started_at,
            worker=job.worker_name,
        )
        for name, job in jobs
        if _visible(list(job.args), organization_id, known)
    ]


def failed(db: Database, connection: redis.Redis, organization_id: str) -> list[DeadLetter]:
    """The dead letters the organization may see, newest first."""
    letters = dead_letters.list_failed(connection)
    known = owners(db, [arg for letter in letters for arg in letter.args])
    return [letter for letter in letters if _visible(letter.args, organization_id, known)]


def retry(db: Database, connection: redis.Redis, organization_id: str, job_id: str) -> bool:
    """Requeue one of the organization's dead letters; False when it has none with that id."""
    if not any(letter.job_id == job_id for letter in failed(db, connection, organization_id)):
        return False
    return dead_letters.requeue(connection, job_id)


def retry_all(db: Database, connection: redis.Redis, organization_id: str) -> int:
    """Requeue every dead letter the organization may see (never another organization's)."""
    return sum(dead_letters.requeue(connection, letter.job_id) for letter in failed(db, connection, organization_id))


def traceback_tail(text: str, lines: int = 10) -> str:
    """The end of a traceback, where the error and the innermost frames are."""
    kept = [line for line in text.rstrip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])
