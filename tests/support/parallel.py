"""What the test processes of one parallel run (``pytest -n``, pytest-xdist) must not share.

Each worker process has its own session: temporary directories, SQLite file, embedded Redis and
live server. What the environment names for every process (``HUB_TEST_REDIS_URL``,
``HUB_TEST_DATABASE_URL``) is split or serialised here.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url


def xdist_worker() -> int | None:
    """The number of this pytest-xdist worker (``pytest -n``: gw0, gw1, ...), None when alone."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(name[2:]) if name.startswith("gw") else None


def per_worker_redis(url: str) -> str:
    """A Redis shared by parallel test processes gives each its own logical database (the
    URL's, plus the worker's number): a burst worker in one process would otherwise run the
    jobs another process queued, against the wrong database and settings."""
    worker = xdist_worker()
    if worker is None:
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise pytest.UsageError("HUB_TEST_REDIS_URL must be a redis:// URL when tests run in parallel (pytest -n)")
    database = int(parts.path.lstrip("/") or 0) + worker
    return urlunsplit(parts._replace(path=f"/{database}"))


def per_worker_database(url: str) -> str:
    """A PostgreSQL ``HUB_TEST_DATABASE_URL`` gives each parallel test process a database of its
    own (the URL's name plus ``_gw<N>``, created on first use on the same server): sweeps and
    some checks read every organization's rows, which another process's tests would change."""
    worker = xdist_worker()
    parsed = make_url(url)
    if worker is None or parsed.get_backend_name() != "postgresql":
        return url
    name = f"{parsed.database}_gw{worker}"
    admin = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return parsed.set(database=name).render_as_string(hide_password=False)


@contextmanager
def one_process_at_a_time(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[None]:
    """Under ``pytest -n``, a lock shared by the worker processes of this run (their temporary
    directories have one parent); alone, nothing to wait for."""
    if xdist_worker() is None:
        yield
        return
    with (tmp_path_factory.getbasetemp().parent / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
