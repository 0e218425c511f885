"""Hub's RQ queues, by purpose. Jobs are serialized as JSON, never pickle."""

from __future__ import annotations

from typing import Final

import redis
from rq import Queue
from rq.serializers import JSONSerializer

SYNC: Final = "sync"
PUSH: Final = "push"
NOTIFY: Final = "notify"
DEFAULT: Final = "default"
ALL: Final = (NOTIFY, SYNC, PUSH, DEFAULT)  # a worker takes from the first non-empty queue


def queue(name: str, connection: redis.Redis) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer)


def queues(connection: redis.Redis) -> list[Queue]:
    return [queue(name, connection) for name in ALL]
