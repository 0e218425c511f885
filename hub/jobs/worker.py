"""``hub worker``: an RQ worker on Hub's queues."""

from __future__ import annotations

from rq import Worker
from rq.serializers import JSONSerializer

from hub.jobs.queues import queues
from hub.redis import connect, with_redis
from hub.settings import Settings


def run_worker(settings: Settings, *, burst: bool = False) -> int:
    settings = with_redis(settings)
    assert settings.redis_url is not None
    connection = connect(settings.redis_url, socket_timeout=None)
    worker = Worker(queues(connection), connection=connection, serializer=JSONSerializer)
    worker.work(burst=burst, with_scheduler=True)
    return 0
