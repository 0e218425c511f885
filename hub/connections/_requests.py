"""Asking the worker for connection work: a coalesced sync, setting up a new link, a push
subscription, an unlink, the processing of a stored notification.

Only ``hub.jobs`` is needed here, so the API (services, webhook intake) and the jobs
themselves ask the same way. The jobs live in ``hub.connections.jobs``, which imports this
module, so they are named by the import path constants below (checked against the job
registry by a test).

Coalescing: a sync is enqueued only if none is already queued for that calendar (a Redis flag
set with NX, cleared when the sync starts), so a burst of notifications yields at most one
queued and one running sync per calendar.
"""

from __future__ import annotations

from typing import Final

import redis

from hub.jobs.queues import PUSH, SYNC
from hub.jobs.runner import enqueue, job_id
from hub.statuses import SyncTrigger

SETUP_CONNECTION: Final = "hub.connections.jobs.setup_connection"
SYNC_CALENDAR: Final = "hub.connections.jobs.sync_calendar"
SUBSCRIBE_PUSH: Final = "hub.connections.jobs.subscribe_push"
UNLINK_CONNECTION: Final = "hub.connections.jobs.unlink_connection"
PROCESS_NOTIFICATION: Final = "hub.connections.jobs.process_notification"

PENDING_TTL = 3600  # a lost flag never blocks syncs for longer than this


def _pending_key(calendar_id: str) -> str:
    return f"hub:sync:pending:{calendar_id}"


def request_sync(connection: redis.Redis, calendar_id: str, trigger: SyncTrigger) -> bool:
    """Enqueue a sync unless one is already queued; True when a job was enqueued."""
    if not connection.set(_pending_key(calendar_id), trigger, nx=True, ex=PENDING_TTL):
        return False
    enqueue(
        connection,
        SYNC_CALENDAR,
        calendar_id,
        trigger,
        queue_name=SYNC,
        id=job_id("sync", calendar_id, trigger),
    )
    return True


def clear_pending(connection: redis.Redis, calendar_id: str) -> None:
    connection.delete(_pending_key(calendar_id))


def request_setup(connection: redis.Redis, connection_id: str) -> None:
    enqueue(connection, SETUP_CONNECTION, connection_id, queue_name=SYNC, id=job_id("setup", connection_id))


def request_subscribe(connection: redis.Redis, calendar_id: str) -> None:
    enqueue(connection, SUBSCRIBE_PUSH, calendar_id, queue_name=PUSH, id=job_id("subscribe", calendar_id))


def request_unlink(connection: redis.Redis, connection_id: str) -> None:
    enqueue(connection, UNLINK_CONNECTION, connection_id, queue_name=PUSH, id=job_id("unlink", connection_id))


def request_processing(connection: redis.Redis, notification_id: str) -> None:
    """Process a stored provider notification (lifecycle events, or one the intake left)."""
    enqueue(
        connection,
        PROCESS_NOTIFICATION,
        notification_id,
        queue_name=SYNC,
        id=job_id("notification", notification_id),
    )
