"""What it costs to hand a request's PostgreSQL work to a thread, against the alternatives.

A request's database work (``Database.run``) on PostgreSQL runs in the loop's executor threads,
so that the event loop serves other requests while one waits on the server. This measures the
same work, three short SELECTs on one autocommit Core connection (the shape of the availability
read: the profiles, the busy time, the calendars), run four ways from one event loop:

- ``inline``: called on the loop's thread, blocking it while the server answers (what
  ``Database.run`` does on SQLite; on PostgreSQL it would stall every request behind one wait);
- ``threads``: ``Database.run``, Hub's way, in a pool of 8 threads (``HUB_HANDLER_THREADS``);
- ``greenlet``: on the loop's thread through SQLAlchemy's asyncio bridge (``greenlet_spawn``
  over an engine of psycopg's asyncio connections): the same synchronous code, and the loop is
  free while a statement waits. As many at a time as the threads (8, an ``asyncio.Semaphore``),
  on a pool of 8 connections and no overflow;
- ``greenlet+overflow``: the same with no semaphore, on a pool of 10 connections and 10 more
  of overflow (the pool ``Database`` gives threads): beyond 10 calls at a time, a connection
  coming back to a full pool is closed, so calls keep opening new ones.

With ``HUB_TEST_REDIS_URL`` set, the same is measured for the check of a key the process
accepted in the last second (``hub.auth.middleware._count_known``: the address's failed-key
count and the key's request count, one pipelined Redis round trip), ``inline`` and
``threads`` only: the middleware runs it inline, on PostgreSQL as on SQLite.

Each way runs ``--concurrency`` calls at a time (``asyncio.gather``) for ``--calls`` calls, the
ways alternating for ``--runs`` rounds, and the median of the rounds is printed: calls per
second, CPU per call (user + system time of this process, all threads, from ``getrusage``),
and context switches per call (voluntary + involuntary, the same source)::

    HUB_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test \\
    HUB_TEST_REDIS_URL=redis://127.0.0.1:6379/3 \\
      .venv/bin/python bench/handoff.py --concurrency 1 32

It needs no schema: the statements read PostgreSQL's catalog. Exits 2 without a reachable
``HUB_TEST_DATABASE_URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.util import greenlet_spawn

from hub.auth.middleware import _count_known
from hub.auth.principal import Principal
from hub.auth.ratelimit import FailedAuthLimiter, RateLimiter
from hub.db import Database
from hub.redis import connect

STATEMENTS = [
    text("SELECT generate_series(1, 20)"),
    text("SELECT relname FROM pg_class ORDER BY oid LIMIT 10"),
    text("SELECT now()"),
]
THREADS = 8  # HUB_HANDLER_THREADS's default


def work(connect: Callable[[], AbstractContextManager[Connection]]) -> int:
    rows = 0
    with connect() as connection:
        for statement in STATEMENTS:
            rows += len(connection.execute(statement).all())
    return rows


def _usage() -> tuple[float, int]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_nvcsw + usage.ru_nivcsw


async def _measure(
    call: Callable[[], Awaitable[object]], concurrency: int, calls: int, expected: object
) -> tuple[float, float, float]:
    rounds = max(1, calls // concurrency)
    for _ in range(max(1, 200 // concurrency)):  # warm: connections open, statements cached
        await asyncio.gather(*(call() for _ in range(concurrency)))
    cpu, switches = _usage()
    started = time.perf_counter()
    for _ in range(rounds):
        answers = await asyncio.gather(*(call() for _ in range(concurrency)))
        assert all(answer == expected for answer in answers), answers
    elapsed = time.perf_counter() - started
    cpu_after, switches_after = _usage()
    done = rounds * concurrency
    return done / elapsed, 1000 * (cpu_after - cpu) / done, (switches_after - switches) / done


async def _table(
    title: str,
    ways: dict[str, Callable[[], Awaitable[object]]],
    concurrencies: list[int],
    calls: int,
    runs: int,
    expected: object,
) -> None:
    print(f"{title}, {calls} calls per way and round, {runs} rounds, median of the rounds")
    print(f"{'concurrency':>11} {'way':>17} {'calls/s':>9} {'CPU ms/call':>12} {'switches/call':>14}")
    for concurrency in concurrencies:
        seen: dict[str, list[tuple[float, float, float]]] = {name: [] for name in ways}
        for _ in range(runs):
            for name, call in ways.items():
                seen[name].append(await _measure(call, concurrency, calls, expected))
        for name, figures in seen.items():
            rate, cpu, switches = (statistics.median(column) for column in zip(*figures, strict=True))
            print(f"{concurrency:>11} {name:>17} {rate:>9.0f} {cpu:>12.3f} {switches:>14.1f}")


async def main(url: str, redis_url: str | None, concurrencies: list[int], calls: int, runs: int) -> None:
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(THREADS, thread_name_prefix="hub-handler"))
    db = Database(url)
    bridged = create_async_engine(db.url, pool_size=THREADS, max_overflow=0)
    bridged_reader = bridged.sync_engine.execution_options(isolation_level="AUTOCOMMIT")
    slots = asyncio.Semaphore(THREADS)
    overflowing = create_async_engine(db.url, pool_size=10, max_overflow=10)
    overflowing_reader = overflowing.sync_engine.execution_options(isolation_level="AUTOCOMMIT")

    async def inline() -> int:
        return work(db.connect)  # the availability read's autocommit Core connection

    async def threads() -> int:
        return await db.run(work, db.connect)

    async def greenlet() -> int:
        async with slots:
            return await greenlet_spawn(work, bridged_reader.connect)

    async def greenlet_overflow() -> int:
        return await greenlet_spawn(work, overflowing_reader.connect)

    ways: dict[str, Callable[[], Awaitable[object]]] = {
        "inline": inline,
        "threads": threads,
        "greenlet": greenlet,
        "greenlet+overflow": greenlet_overflow,
    }
    try:
        await _table("3 SELECTs per call", ways, concurrencies, calls, runs, 31)
        if redis_url:
            redis_client = connect(redis_url)
            limiter = RateLimiter(redis_client, 10**9)
            failures = FailedAuthLimiter(redis_client, 10**9, namespace="bench-handoff:v1")
            known = Principal("key_bench_handoff", "org_bench_handoff", "owner", frozenset())

            async def check_inline() -> object:
                return _count_known(known, limiter, failures, "192.0.2.1")[0]

            async def check_in_threads() -> object:
                return (await db.run(_count_known, known, limiter, failures, "192.0.2.1"))[0]

            checks: dict[str, Callable[[], Awaitable[object]]] = {"inline": check_inline, "threads": check_in_threads}
            print()
            await _table("the rate-limit check of a known key", checks, concurrencies, calls, runs, known)
            redis_client.close()
    finally:
        await bridged.dispose()
        await overflowing.dispose()
        db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32], help="calls at a time (default 1 32)")
    parser.add_argument("--calls", type=int, default=3200, help="calls per way and round (default 3200)")
    parser.add_argument("--runs", type=int, default=3, help="rounds, the ways alternating (default 3)")
    args = parser.parse_args()
    url = os.environ.get("HUB_TEST_DATABASE_URL")
    if not url:
        print("HUB_TEST_DATABASE_URL is not set: this measures work on PostgreSQL", file=sys.stderr)
        sys.exit(2)
    probe = Database(url)
    try:
        probe.ping()
    except OperationalError as error:
        print(f"PostgreSQL at HUB_TEST_DATABASE_URL is not reachable: {error}", file=sys.stderr)
        sys.exit(2)
    finally:
        probe.dispose()
    asyncio.run(main(url, os.environ.get("HUB_TEST_REDIS_URL"), args.concurrency, args.calls, args.runs))
