"""What a job needs from its process: settings, the database, Redis, the connectors.

The worker installs one ``JobContext`` at start-up; jobs ask for it with ``context()``. Jobs
receive only JSON arguments (ids), never live objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import redis

from hub.connectors import Connectors
from hub.crypto import Keyring, keyring_for
from hub.db import Database
from hub.redis import connect
from hub.settings import Settings


@dataclass
class JobContext:
    settings: Settings
    db: Database
    redis: redis.Redis
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def keyring(self) -> Keyring:
        if "keyring" not in self.extras:
            self.extras["keyring"] = keyring_for(self.settings)
        return self.extras["keyring"]  # type: ignore[no-any-return]

    @cached_property
    def connectors(self) -> Connectors:
        """This process's connectors, each built once and shared by its jobs."""
        return Connectors(self.settings)


_current: JobContext | None = None


def install(ctx: JobContext) -> JobContext:
    global _current
    _current = ctx
    return ctx


def context() -> JobContext:
    """The process's job context, built from the environment on first use if none was installed."""
    global _current
    if _current is None:
        from hub.redis import with_redis

        settings = with_redis(Settings.from_env())
        assert settings.redis_url is not None
        _current = JobContext(settings, Database(settings.resolved_database_url), connect(settings.redis_url))
    return _current
