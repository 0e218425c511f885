"""Every job function Hub can run, by the import path RQ stores with a queued job.

``@hub_job`` registers the function it wraps under ``path_of(function)``
(``package.module.function``). Queues name jobs by that path: the cron schedule and the core
outbox consumers refer to job functions, and the few places that cannot import the job they
enqueue (the job's module imports them) name it by a constant defined once beside the code
that enqueues it. ``resolve()`` turns a path back into its registered job, and fails for a
path that names no job, which a test applies to every path Hub names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

JOBS: dict[str, Callable[..., Any]] = {}


def path_of(function: Callable[..., Any]) -> str:
    """The import path RQ uses for ``function``: ``package.module.function``."""
    return f"{function.__module__}.{function.__qualname__}"


def register(function: Callable[..., Any]) -> None:
    JOBS[path_of(function)] = function


def resolve(path: str) -> Callable[..., Any]:
    """The job function ``path`` names (its module is imported); ``LookupError`` if none."""
    module_name, _, attribute = path.rpartition(".")
    try:
        function: Callable[..., Any] = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise LookupError(f"{path!r} names no importable function") from exc
    if JOBS.get(path) is not function:
        raise LookupError(f"{path!r} is not a registered job: decorate it with @hub_job")
    return function
