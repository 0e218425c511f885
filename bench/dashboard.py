"""Benchmark of the dashboard's sync log on 100,000 sync runs, against ``GET /health`` as the floor.

Run with ``.venv/bin/python bench/dashboard.py [--database sqlite|postgres|both] [--rows N] [--requests N]``.

For each database the script

1. creates a fresh database (SQLite: a file in a temporary directory; PostgreSQL: a new
   ``hub_bench_<random>`` database on ``--postgres-url``, dropped afterwards; skipped with the
   reason when the server does not answer), applies the migrations and seeds one organization
   with an owner key, 50 connections and ``--rows`` sync runs spread over 30 days;
2. prints the query plan of each sync log query (it should walk ``ix_sync_runs_started``);
3. starts ``hub serve`` on it (bench/run.py's ``hub_server``), signs in to the dashboard with
   the owner key, and sends ``--requests`` sequential requests per scenario after a warm-up:
   ``/health``, the first page of the sync log, a filtered page (failed Google runs of the
   last 7 days) and a deep page (a cursor 90 % of the way into the log);
4. prints p50/p99 latency of each scenario and its ratio to ``/health``.

It is a benchmark, not a test: it prints figures and always exits 0 unless something broke.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from sqlalchemy import insert, text

from bench.run import DEFAULT_POSTGRES_URL, hub_server, postgres_database, postgres_unreachable
from dashboard.queries import SyncFilter, sync_runs_statement
from hub.auth.service import bootstrap_key
from hub.db import Database, upgrade
from hub.db.tables import Connection, SyncRun, User
from hub.ids import new_id
from hub.pagination import decode_cursor, encode_cursor

SECRET = "bench-dashboard-secret-0123456789abcdef"  # noqa: S105 - a throw-away benchmark key
CONNECTIONS = 50
DAYS = 30
BATCH = 5000
DEEP_FRACTION = 0.9


def seed(db: Database, rows: int) -> tuple[str, str]:
    """An organization with an owner key, connections and ``rows`` sync runs; ``(org id, key)``."""
    organization_id, key = bootstrap_key(db, "dashboard-bench", role="owner")
    rng = random.Random(7)
    now = datetime.now(UTC)
    with db.write() as session:
        user_id = new_id("user")
        session.add(
            User(
                id=user_id,
                organization_id=organization_id,
                name="Bench User",
                email="bench@example.com",
                timezone="UTC",
                working_hours=[],
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()
        connections = []
        for i in range(CONNECTIONS):
            provider = "google" if i % 2 == 0 else "microsoft"
            connection_id = new_id("connection")
            connections.append((connection_id, provider))
            session.add(Connection(
                id=connection_id, organization_id=organization_id, user_id=user_id, provider=provider,
                account_id=f"bench-{i}", account_email=f"user{i}@example.com",
                status="reauth_required" if i % 10 == 0 else "active", scopes=[], consecutive_failures=0,
                created_at=now, updated_at=now,
            ))  # fmt: skip
    span = DAYS * 86400
    for start in range(0, rows, BATCH):
        batch = []
        for _ in range(min(BATCH, rows - start)):
            connection_id, provider = rng.choice(connections)
            roll = rng.random()
            outcome = "failed" if roll < 0.07 else ("skipped" if roll < 0.10 else "succeeded")
            started = now - timedelta(seconds=rng.uniform(0, span))
            batch.append({
                "id": new_id("sync_run"), "organization_id": organization_id, "connection_id": connection_id,
                "calendar_id": None, "provider": provider, "trigger": rng.choice(["webhook", "schedule", "manual"]),
                "full": False, "outcome": outcome, "events_upserted": rng.randint(0, 20), "events_deleted": 0,
                "error_code": "rate_limited" if outcome == "failed" else None,
                "error_detail": "Rate Limit Exceeded" if outcome == "failed" else None, "job_id": None,
                "started_at": started, "finished_at": started + timedelta(milliseconds=420), "duration_ms": 420,
            })  # fmt: skip
        with db.write() as session:
            session.execute(insert(SyncRun), batch)
    if not db.is_sqlite:
        with db.engine.connect() as conn:
            conn.execute(text("ANALYZE sync_runs"))
            conn.commit()
    return organization_id, key


def cursor_at(db: Database, organization_id: str, where: SyncFilter, position: int) -> str:
    """The cursor the sync log would hand out after ``position`` rows (OFFSET is fine here, once)."""
    statement = sync_runs_statement(organization_id, where, None, 0).limit(1).offset(position)
    with db.read() as session:
        run = session.scalars(statement).one()
    return encode_cursor([run.started_at.isoformat(), run.id])


def plan(db: Database, organization_id: str, where: SyncFilter, cursor: str | None) -> str:
    """The database's plan for one sync log query, on one line."""
    after = None
    if cursor:
        started, run_id = decode_cursor(cursor, 2)
        after = (datetime.fromisoformat(started), run_id)
    compiled = sync_runs_statement(organization_id, where, after, 50).compile(dialect=db.engine.dialect)
    params = {k: (v.replace(tzinfo=None) if db.is_sqlite and isinstance(v, datetime) else v)
              for k, v in compiled.params.items()}  # fmt: skip
    prefix = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "
    bound: Any = tuple(params[name] for name in compiled.positiontup) if compiled.positiontup else params
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + str(compiled), bound).all()
    lines = [re.sub(r"\s*\(cost=.*?\)", "", str(row[-1])).strip() for row in rows]
    steps = [line.removeprefix("->  ") for line in lines if "Filter" not in line and "Cond" not in line]
    return " | ".join(steps[:5])


def measure(client: httpx.Client, path: str, requests: int, check: Callable[[httpx.Response], bool]) -> list[float]:
    for _ in range(max(5, requests // 10)):  # warm-up
        client.get(path)
    timings = []
    for _ in range(requests):
        began = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - began) * 1000)
        if not check(response):
            raise RuntimeError(f"GET {path} answered {response.status_code}: {response.text[:300]}")
    return timings


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def sign_in(client: httpx.Client, key: str) -> None:
    form = client.get("/dashboard/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None, form.text
    response = client.post("/dashboard/sign-in", data={"api_key": key, "csrf_token": token.group(1)})
    assert response.status_code == 303, response.text


def bench(label: str, url: str, args: argparse.Namespace) -> None:
    db = Database(url)
    upgrade(db)
    began = time.perf_counter()
    organization_id, key = seed(db, args.rows)
    print(f"[{label}] seeded {args.rows:,} sync runs in {time.perf_counter() - began:.1f} s", flush=True)
    filtered = SyncFilter(outcome="failed", provider="google", since=datetime.now(UTC) - timedelta(days=7))
    deep = cursor_at(db, organization_id, SyncFilter(), int(args.rows * DEEP_FRACTION))
    scenarios: list[tuple[str, str, SyncFilter | None, str | None]] = [
        ("GET /health (floor)", "/health", None, None),
        ("sync log, first page", "/dashboard/sync-runs", SyncFilter(), None),
        ("sync log, failed+google+7d", "/dashboard/sync-runs?outcome=failed&provider=google&period=7d", filtered,
         None),
        (f"sync log, cursor at {DEEP_FRACTION:.0%}", f"/dashboard/sync-runs?cursor={deep}", SyncFilter(), deep),
    ]  # fmt: skip
    for name, _path, where, cursor in scenarios:
        if where is not None:
            print(f"[{label}] plan of {name}: {plan(db, organization_id, where, cursor)}")
    db.dispose()
    results: list[tuple[str, float, float]] = []
    with (
        hub_server({"HUB_DATABASE_URL": url, "HUB_SECRET_KEYS": SECRET}) as server,
        httpx.Client(base_url=server.base_url, timeout=30) as client,
    ):
        sign_in(client, key)
        for name, path, where, _cursor in scenarios:
            ok: Callable[[httpx.Response], bool] = (
                (lambda r: r.status_code == 200 and "run_" in r.text) if where is not None
                else (lambda r: r.status_code == 200)
            )  # fmt: skip
            timings = measure(client, path, args.requests, ok)
            results.append((name, p(timings, 50), p(timings, 99)))
    floor_50, floor_99 = results[0][1], results[0][2]
    print(f"\n{label}: {args.rows:,} sync runs, {args.requests} sequential requests per scenario")
    print(f"  {'scenario':<30} {'p50 ms':>8} {'p99 ms':>8} {'p50 / health':>13} {'p99 / health':>13}")
    for name, p50, p99 in results:
        print(f"  {name:<30} {p50:8.2f} {p99:8.2f} {p50 / floor_50:12.1f}x {p99 / floor_99:12.1f}x")
    print(flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    args = parser.parse_args()
    if args.database in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="hub-bench-dashboard-") as directory:
            bench("SQLite", f"sqlite:///{directory}/hub.db", args)
    if args.database in ("postgres", "both"):
        reason = postgres_unreachable(args.postgres_url)
        if reason is not None:
            print(f"PostgreSQL skipped: {args.postgres_url} is unreachable ({reason})")
        else:
            with postgres_database(args.postgres_url) as url:
                bench("PostgreSQL", url, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
