"""Hub's request paths against the framework floor, measured with wrk (``make bench``).

    .venv/bin/python bench/run.py [--duration 10] [--warmup 2] [--runs 1] [--only sqlite|postgres]
                                  [--server uvicorn|granian] [--profile out.svg] [--verbose]

One run measures, in this order, each path with a short wrk warm-up and then ``--duration``
seconds of wrk (32 connections, 2 threads, ``--latency``):

1. the floor: ``bench/floor.py``, a bare Litestar app with one msgspec route (``GET /health``),
   one process on the same interpreter and the same ASGI server as Hub;
2. Hub on SQLite: ``hub serve`` (one process, embedded defaults, a fresh temporary
   ``HUB_DATA_DIR``, ``HUB_RATE_LIMIT_PER_MINUTE`` at 10^9, a limit that counts every request as
   production does but that wrk cannot reach, ``HUB_LOG_LEVEL=warning``) with an owner key
   (``hub keys create``) and a host with 168 bookings over 7 days (one 30-minute booking every
   hour, made through the API). Paths: ``GET /health``; ``POST /v1/bookings`` (a new host who
   works 24/7 for the warm-up and another for the measured window; every request a new 15-minute
   slot and a new ``Idempotency-Key``, see ``bench/wrk/bookings.lua``); ``GET /v1/availability``
   (7 days, 30-minute slots, the host with 168 bookings: 168 free slots; after the first request
   Hub answers it from memory, ``hub.availability.cache``); the same query with a new window
   every request (``bench/wrk/availability_windows.lua``), so that every answer is computed,
   reported as a multiple of the repeated query's cost; and team availability
   (``user_ids`` of 20 hosts with 50 bookings each, 62 days), reported as a multiple of the
   one-user query's cost in the same run;
3. Hub on PostgreSQL, only when ``HUB_TEST_DATABASE_URL`` is set: the same on a fresh
   ``hub_bench_<random>`` database created on that server and dropped afterwards, with Redis at
   ``HUB_TEST_REDIS_URL`` (the jobs the run queued there are removed again) or else the embedded
   one, with one more booking window spread over 8 hosts in turn; then ``hub serve --workers 2``
   on another fresh database for the booking path, on one host and on 8 hosts, each reported as
   a ratio to the one-process figure of the same path. The target is the 8-host ratio: the
   writers of one host queue on that host's lock by design (no double booking), so a second
   process adds little to one host's rate, while bookings of different hosts run side by side.

For each path it prints requests/s, p50/p99 latency, the server's CPU time per request (user +
system time of the server's whole process tree, from ``/proc/<pid>/stat``, over the measured
window, divided by the requests wrk completed), the count of unexpected answers (non-2xx; for
bookings every answer other than 201), the CPU use of the server, of wrk and of everything else
on the machine (100 % = one core), and the throughput as a share of the floor's ``/health`` in
the same run against the targets, each marked ``met`` or ``MISSED``. ``--runs N`` repeats the
whole run (fresh servers and data each time), prints every run's table and then the median and
spread of each figure. The figures only mean something on an otherwise quiet machine: the
``other`` column shows how busy it was.

``--server granian`` runs the floor and Hub on granian instead of uvicorn (``pip install granian``
first; Hub then runs as ``hub migrate`` + ``granian --factory hub.app:app_from_env``).
``--profile PATH`` samples the Hub server with ``py-spy record`` during the measured booking
window of the first run and writes one file per database, ``PATH`` with ``-sqlite`` or
``-postgres`` before the suffix: ``.svg`` a flamegraph, ``.json`` speedscope, ``.txt`` collapsed
stacks (and a summary of the top functions is printed). Sampling costs CPU, so the profiled
booking figures are marked and lower than usual.

A missed target is printed, not a failure: the exit status is 0 when the harness ran, 2 when it
could not (wrk or py-spy missing, a server that does not start, a failed set-up, PostgreSQL
asked for but unreachable). Every process started here is stopped on exit, also after errors
or Ctrl-C.

The other benchmarks in ``bench/`` (``engine.py``, ``jobs.py``, ``pipeline.py``,
``dashboard.py``) are separate scripts; ``dashboard.py`` reuses ``hub_server`` and
``postgres_database`` from here.
"""

from __future__ import annotations

import argparse
import atexit
import importlib.util
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis
from psycopg import sql
from sqlalchemy.engine import make_url

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
WRK_DIR = BENCH_DIR / "wrk"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"  # bench/dashboard.py's default
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CONNECTIONS = 32
WRK_THREADS = 2
WRK_TIMEOUT = "10s"  # a slow answer is measured, not dropped as a wrk timeout (its default is 2 s)
BUSY_BOOKINGS = 168  # one 30-minute booking every hour of the 7-day availability window
AVAILABILITY_DAYS = 7
AVAILABILITY_DURATION = 30
TEAM_USERS = 20  # team availability: 20 hosts, 50 bookings each, a 62-day window
TEAM_BOOKINGS = 50
TEAM_DAYS = 62
# The measured window of the new-window path starts its windows this much later than its warm-up
# (which sends fewer than 10,000 requests, a second apart), so that it asks nothing twice.
NEW_WINDOWS_AFTER = timedelta(hours=6)
SPREAD_HOSTS = 8  # PostgreSQL's booking path again, spread over this many hosts (see verdict)
SERVERS = ("uvicorn", "granian")
STARTUP_TIMEOUT = 120.0  # a busy machine can take a minute to import and start two processes
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Throughput as a share of the floor's /health, per database and path.
TARGETS: dict[str, dict[str, float]] = {
    "sqlite": {"health": 0.6, "bookings": 0.08, "availability": 0.08},
    "postgres": {"health": 0.6, "bookings": 0.06, "availability": 0.08},
}
SQLITE_BOOKING_P99_OVER_P50 = 4.0  # and 100 % 201s, on SQLite
DATABASE_NAMES = {"floor": "floor", "sqlite": "SQLite", "postgres": "PostgreSQL"}
PATH_NAMES = {
    "health": "GET /health",
    "bookings": "POST /v1/bookings",
    "availability": "GET /v1/availability",
    "availability-new": "GET /v1/availability new windows",
    "availability-team": "GET /v1/availability 20 users 62d",
    "bookings-w2": "POST /v1/bookings --workers 2",
    "bookings-hosts": f"POST /v1/bookings {SPREAD_HOSTS} hosts",
    "bookings-hosts-w2": f"POST /v1/bookings {SPREAD_HOSTS} hosts --workers 2",
}

_live: list[subprocess.Popen[Any]] = []  # every child still running, stopped by _stop_all


class HarnessError(RuntimeError):
    """The benchmark could not be run as asked (as opposed to a target that was missed)."""


# -- processes ---------------------------------------------------------------------------------


def _stop(process: subprocess.Popen[Any], *, group: bool, grace: float = 10.0) -> None:
    """Stop ``process`` (and its process group when ``group``): SIGTERM, then SIGKILL after ``grace``."""
    if process.poll() is None:
        try:
            if group:
                os.killpg(process.pid, signal.SIGTERM)
            else:
                process.terminate()
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                if group:
                    os.killpg(process.pid, signal.SIGKILL)
                else:
                    process.kill()
            except ProcessLookupError:
                pass
            process.wait(timeout=5)
    if process in _live:
        _live.remove(process)


def _stop_all() -> None:
    for process in list(_live):
        _stop(process, group=True, grace=5.0)


def _on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _hub_command() -> list[str]:
    script = Path(sys.executable).with_name("hub")
    return [str(script)] if script.exists() else [sys.executable, "-m", "hub.cli"]


def _granian_command(app: str, port: int, workers: int, *, factory: bool) -> list[str]:
    command = [sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    return [*command, *(["--factory"] if factory else []), app]


def floor_command(server: str, port: int) -> list[str]:
    """The floor app on ``server``, one process, with the options ``hub serve`` gives uvicorn but
    the event loop: the floor keeps uvicorn's fastest (uvloop) where Hub runs the standard
    library's loop (see ``hub.cli``), so Hub's shares are taken against the faster of the two."""
    if server == "granian":
        return _granian_command("bench.floor:app", port, 1, factory=False)
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.floor:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--timeout-keep-alive",
        "5",
    ]


def hub_commands(server: str, port: int, workers: int) -> tuple[list[list[str]], list[str]]:
    """The commands to run first (to completion) and the server command of Hub on ``server``.

    uvicorn is what ``hub serve`` runs. granian runs the factory ``hub serve`` hands uvicorn,
    after ``hub migrate`` (which ``hub serve`` does itself before it starts uvicorn).
    """
    if server == "granian":
        return [[*_hub_command(), "migrate"]], _granian_command("hub.app:app_from_env", port, workers, factory=True)
    return [], [*_hub_command(), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]


def check_server_installed(server: str) -> None:
    if importlib.util.find_spec(server) is None:
        raise HarnessError(
            f"{server} is not installed in {sys.prefix}: {Path(sys.executable).parent}/pip install {server}"
        )


@dataclass
class Server:
    """A running server process (Hub or the floor app)."""

    process: subprocess.Popen[Any]
    base_url: str
    env: dict[str, str]
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _base_env() -> dict[str, str]:
    """The environment without any HUB_ variable of the caller, with the project on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _start(command: list[str], env: dict[str, str], log_path: Path, what: str) -> Server:
    """Start ``command`` in its own session and wait until it answers ``GET /health`` with 200."""
    port = int(command[command.index("--port") + 1])
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    _live.append(process)
    server = Server(process, f"http://127.0.0.1:{port}", env, log_path)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    try:
        while True:
            if process.poll() is not None:
                raise HarnessError(f"{what} exited with {process.returncode}:\n{server.log_tail()}")
            with suppress(httpx.HTTPError):
                if httpx.get(f"{server.base_url}/health", timeout=1.0).status_code == 200:
                    return server
            if time.monotonic() > deadline:
                raise HarnessError(f"{what} did not answer /health in {STARTUP_TIMEOUT:g} s:\n{server.log_tail()}")
            time.sleep(0.1)
    except BaseException:
        _stop(process, group=True, grace=5.0)
        raise


def _embedded_redis_pids(data_dir: Path) -> list[int]:
    """Pids of the embedded redis-server of a server using ``data_dir``.

    The server daemonizes (it is in no process group of ours) and its registry file is removed
    on shutdown even when the server lingers, so the pids are read while it runs.
    """
    pids = []
    for registry in data_dir.glob("**/*.rdb.settings"):
        try:
            pidfile = json.loads(registry.read_text())["pidfile"]
            pids.append(int(Path(pidfile).read_text().strip()))
        except (OSError, ValueError, KeyError):
            continue
    return pids


def _stop_redis(pid: int) -> None:
    """Stop the embedded redis-server ``pid`` if it is still running."""
    try:
        if b"redis-server" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return  # gone (or a zombie waiting for init), or the pid was reused
        os.kill(pid, signal.SIGTERM)
    except (OSError, ProcessLookupError):
        return
    for _ in range(50):
        try:
            if not Path(f"/proc/{pid}/cmdline").read_bytes():
                return
        except OSError:
            return
        time.sleep(0.1)
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@contextmanager
def hub_server(extra_env: dict[str, str], *, workers: int = 1, server: str = "uvicorn") -> Iterator[Server]:
    """Start Hub (``hub serve --workers N`` on uvicorn) with a fresh data directory, rate limiting
    off and warning-level logs; stop it (and its embedded Redis) on exit."""
    data_dir = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    env = _base_env()
    env.update(HUB_DATA_DIR=str(data_dir), HUB_RATE_LIMIT_PER_MINUTE="1000000000", HUB_LOG_LEVEL="warning", **extra_env)
    if server == "granian" and workers > 1:  # what `hub serve --workers N` sets up for uvicorn
        env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(data_dir / "prometheus"))
        Path(env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "server.log"
    started: Server | None = None
    redis_pids: list[int] = []
    try:
        before, command = hub_commands(server, _free_port(), workers)
        for step in before:
            done = subprocess.run(step, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
            if done.returncode != 0:
                raise HarnessError(f"{' '.join(step)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        started = _start(command, env, log_path, f"Hub ({server}, {workers} process(es))")
        redis_pids = _embedded_redis_pids(data_dir)
        yield started
    finally:
        if started is not None:
            _stop(started.process, group=True)
        for pid in redis_pids or _embedded_redis_pids(data_dir):
            _stop_redis(pid)
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def floor_server(server: str) -> Iterator[Server]:
    """Start the floor app (``bench/floor.py``) on ``server``; stop it on exit."""
    log_dir = Path(tempfile.mkdtemp(prefix="hub-bench-floor-"))
    started: Server | None = None
    try:
        started = _start(floor_command(server, _free_port()), _base_env(), log_dir / "server.log", "the floor app")
        yield started
    finally:
        if started is not None:
            _stop(started.process, group=True)
        shutil.rmtree(log_dir, ignore_errors=True)


# -- PostgreSQL and Redis ------------------------------------------------------------------------


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh ``hub_bench_<random>`` database on the server of ``admin_url``, dropped on exit."""

    name = f"hub_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            print(f"  warning: could not drop database {name}: {exc}", file=sys.stderr)


def purge_outbox_jobs(redis_url: str, database_url: str) -> int:
    """Remove the jobs a server on ``database_url`` queued in the shared Redis; return how many.

    After each commit the server enqueues one dispatch job per new outbox row (job id
    ``<kind>-<outbox id>``). No worker runs for the benchmark's throw-away database, so those
    jobs are taken out of every RQ queue and registry again before the database is dropped.
    """

    try:
        with psycopg.connect(database_url, connect_timeout=5) as conn:
            ids = {str(row[0]) for row in conn.execute("SELECT id FROM outbox")}
    except psycopg.Error:
        return 0
    if not ids:
        return 0
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=10, decode_responses=True)
    removed = 0
    for queue_key in list(client.smembers("rq:queues")):
        name = str(queue_key).removeprefix("rq:queue:")
        pipe = client.pipeline(transaction=False)
        for job_id in list(client.lrange(f"rq:queue:{name}", 0, -1)):
            job = str(job_id)
            if job.partition("-")[2] in ids:
                pipe.lrem(f"rq:queue:{name}", 0, job)
                pipe.delete(f"rq:job:{job}")
                removed += 1
        for registry in ("wip", "started", "finished", "failed", "scheduled", "deferred", "canceled"):
            key = f"rq:{registry}:{name}"
            if client.type(key) != "zset":
                continue
            for member in list(client.zrange(key, 0, -1)):
                job = str(member)
                if job.partition("-")[2] in ids:
                    pipe.zrem(key, job)
                    pipe.delete(f"rq:job:{job}")
                    removed += 1
        pipe.execute()
    return removed


def postgres_unreachable(admin_url: str) -> str | None:
    """Why PostgreSQL at ``admin_url`` cannot be used, or ``None`` when it answers."""
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "cannot use it"
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    return None


def redis_unreachable(url: str) -> str | None:
    """Why Redis at ``url`` cannot be used, or ``None`` when it answers."""
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"
    return None


# -- data ------------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _expect(response: httpx.Response, status: int, what: str) -> dict[str, Any]:
    if response.status_code != status:
        raise HarnessError(f"{what}: expected {status}, got {response.status_code}: {response.text[:500]}")
    return dict(response.json())


@dataclass
class Fixture:
    """What the paths need: an owner key, the start of the 7-day window and its busy host."""

    server: Server
    api_key: str
    window_start: datetime
    busy_host: str = ""
    availability_slots: int = 0
    team: list[str] = field(default_factory=list)
    team_slots: int = 0

    def client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        return httpx.Client(base_url=self.server.base_url, headers=headers, timeout=30.0)

    def new_host(self, name: str) -> str:
        """A host who works 00:00-24:00 UTC every day."""
        body = {
            "name": name,
            "email": f"{secrets.token_hex(4)}@example.com",
            "timezone": "UTC",
            "working_hours": [{"weekday": day, "start": "00:00", "end": "24:00"} for day in WEEKDAYS],
        }
        with self.client() as client:
            return str(_expect(client.post("/v1/users", json=body), 201, f"create host {name!r}")["id"])

    def availability_path(self) -> str:
        query = httpx.QueryParams(
            {
                "user_id": self.busy_host,
                "start": _iso(self.window_start),
                "end": _iso(self.window_start + timedelta(days=AVAILABILITY_DAYS)),
                "duration_minutes": str(AVAILABILITY_DURATION),
            }
        )
        return f"/v1/availability?{query}"

    def new_windows_args(self, after: timedelta) -> list[str]:
        """``availability_windows.lua``'s arguments: windows of the one-user query, each starting
        a second later than the one before, from ``after`` past the usual start."""
        base = int((self.window_start + after).timestamp())
        return [self.api_key, self.busy_host, str(base), str(AVAILABILITY_DAYS), str(AVAILABILITY_DURATION),
                str(WRK_THREADS)]  # fmt: skip

    def team_path(self) -> str:
        query = httpx.QueryParams(
            {
                "user_ids": ",".join(self.team),
                "start": _iso(self.window_start),
                "end": _iso(self.window_start + timedelta(days=TEAM_DAYS)),
                "duration_minutes": str(AVAILABILITY_DURATION),
            }
        )
        return f"/v1/availability?{query}"

    def set_up_team(self) -> None:
        """20 hosts working 09:00-17:00 UTC on weekdays, each with 50 half-hour bookings in
        working time spread over the 62 days (host i's k-th booking on the (7i + 13k)-th
        working half hour, so the hosts are busy at different times)."""
        working = [
            self.window_start + timedelta(days=day, minutes=30 * half)
            for day in range(TEAM_DAYS)
            if (self.window_start + timedelta(days=day)).weekday() < 5
            for half in range(18, 34)
        ]
        body = {
            "timezone": "UTC",
            "working_hours": [{"weekday": day, "start": "09:00", "end": "17:00"} for day in WEEKDAYS[:5]],
        }
        with self.client() as client:
            self.team = [
                str(
                    _expect(
                        client.post(
                            "/v1/users",
                            json={**body, "name": f"Team {i}", "email": f"{secrets.token_hex(4)}@example.com"},
                        ),
                        201,
                        "team host",
                    )["id"]
                )
                for i in range(TEAM_USERS)
            ]

            def book(item: tuple[int, int]) -> None:
                host, k = item
                start = working[(7 * host + 13 * k) % len(working)]
                payload = {"host_id": self.team[host], "start": _iso(start), "duration_minutes": 30, "title": "Team"}
                _expect(client.post("/v1/bookings", json=payload), 201, f"team booking {host}/{k}")

            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(book, [(host, k) for host in range(TEAM_USERS) for k in range(TEAM_BOOKINGS)]))
            self.team_slots = len(_expect(client.get(self.team_path()), 200, "team availability")["slots"])


def set_up(server: Server, *, busy_host: bool = True) -> Fixture:
    """An owner key via the CLI; with ``busy_host``, a host with 168 bookings via the API."""
    created = subprocess.run(
        [*_hub_command(), "keys", "create", "--org", "bench", "--role", "owner", "--json"],
        env=server.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = [line for line in created.stdout.splitlines() if line.strip()]
    if created.returncode != 0 or not lines:
        raise HarnessError(f"hub keys create failed ({created.returncode}):\n{created.stdout}\n{created.stderr}")
    window_start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)
    fixture = Fixture(server, json.loads(lines[-1])["api_key"], window_start)
    if not busy_host:
        return fixture
    fixture.busy_host = fixture.new_host("Bench Busy Host")
    with fixture.client() as client:

        def book(hour: int) -> None:
            body = {
                "host_id": fixture.busy_host,
                "start": _iso(window_start + timedelta(hours=hour)),
                "duration_minutes": 30,
                "title": f"Busy {hour}",
            }
            _expect(client.post("/v1/bookings", json=body), 201, f"busy booking {hour}")

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(book, range(BUSY_BOOKINGS)))
        answer = _expect(client.get(fixture.availability_path()), 200, "availability")
    fixture.availability_slots = len(answer["slots"])
    fixture.set_up_team()
    return fixture


# -- measuring -------------------------------------------------------------------------------


def _tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of ``root`` and all its descendants (every thread) so far."""
    children: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        cpu[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    total, pending = 0.0, [root]
    while pending:
        pid = pending.pop()
        total += cpu.get(pid, 0.0)
        pending.extend(children.get(pid, []))
    return total


def _machine_busy_seconds() -> float:
    """CPU seconds all CPUs of the machine spent busy so far (everything but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class WrkRun:
    """What one wrk invocation reported (its ``@@bench`` line, see ``bench/wrk/common.lua``)."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    socket_errors: dict[str, int]
    unexpected: int
    statuses: str
    sample: str
    output: str


_WRK_LINE = re.compile(r"^@@bench (.*)$", re.MULTILINE)
_WRK_SAMPLE = re.compile(r"^@@sample (.*)$", re.MULTILINE)


def run_wrk(url: str, script: str, seconds: int, script_args: list[str], *, verbose: bool) -> WrkRun:
    """Run wrk with ``bench/wrk/<script>.lua`` for ``seconds`` against ``url``."""
    command = ["wrk", "-t", str(WRK_THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds}s", "--timeout", WRK_TIMEOUT]
    command += ["--latency", "-s", str(WRK_DIR / f"{script}.lua"), url]
    if script_args:
        command += ["--", *script_args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"wrk did not finish: {' '.join(command)}") from exc
    output = done.stdout + done.stderr
    if verbose:
        print(output.rstrip(), flush=True)
    match = _WRK_LINE.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise HarnessError(f"wrk failed ({done.returncode}): {' '.join(command)}\n{output[-2000:]}")
    values = dict(item.split("=", 1) for item in match.group(1).split())
    sample = _WRK_SAMPLE.search(done.stdout)
    return WrkRun(
        requests=int(values["requests"]),
        seconds=int(values["duration_us"]) / 1e6,
        p50_ms=int(values["p50_us"]) / 1000,
        p99_ms=int(values["p99_us"]) / 1000,
        socket_errors={k: int(values[k]) for k in ("connect", "read", "write", "timeout") if int(values[k])},
        unexpected=int(values["unexpected"]),
        statuses=values.get("statuses", ""),
        sample=sample.group(1) if sample else "",
        output=output,
    )


@dataclass
class Result:
    """Figures of one path in one run."""

    database: str  # floor, sqlite, postgres
    path: str  # health, bookings, availability[-new, -team], bookings-w2, bookings-hosts[-w2]
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    unexpected: int
    cpu_ms: float  # server CPU time per request
    server_cpu_pct: float  # 100 = one core
    wrk_cpu_pct: float
    other_cpu_pct: float
    socket_errors: dict[str, int] = field(default_factory=dict)
    statuses: str = ""
    sample: str = ""
    profiled: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return self.database, self.path

    @property
    def label(self) -> str:
        name = PATH_NAMES[self.path] + (" (bare Litestar)" if self.database == "floor" else "")
        return f"{DATABASE_NAMES[self.database]:<10} {name}"


@dataclass
class Options:
    warmup: int
    duration: int
    server: str
    verbose: bool
    profile: Path | None = None  # where to write the profile of this database, if at all
    py_spy: str = ""
    profile_path: str = "bookings"  # the path that is profiled


def measure(
    database: str,
    path: str,
    server: Server,
    script: str,
    args: list[str],
    options: Options,
    *,
    warmup_args: list[str] | None = None,
) -> Result:
    """Warm ``server`` up with wrk, then measure one window, sampling CPU around it."""
    if options.warmup > 0:
        run_wrk(server.base_url, script, options.warmup, args if warmup_args is None else warmup_args, verbose=False)
    sampler: subprocess.Popen[str] | None = None
    profile = options.profile if path == options.profile_path and database != "floor" else None
    if profile is not None:
        sampler = start_profile(options.py_spy, server.process.pid, options.duration, profile)
    server_before, machine_before, wrk_before = (
        _tree_cpu_seconds(server.process.pid),
        _machine_busy_seconds(),
        _children_cpu_seconds(),
    )
    began = time.perf_counter()
    run = run_wrk(server.base_url, script, options.duration, args, verbose=options.verbose)
    wall = max(time.perf_counter() - began, 1e-9)
    server_cpu = _tree_cpu_seconds(server.process.pid) - server_before
    wrk_cpu = _children_cpu_seconds() - wrk_before
    machine = _machine_busy_seconds() - machine_before
    if sampler is not None and profile is not None:
        finish_profile(sampler, profile, options.duration)
    result = Result(
        database=database,
        path=path,
        rps=run.requests / max(run.seconds, 1e-9),
        p50_ms=run.p50_ms,
        p99_ms=run.p99_ms,
        requests=run.requests,
        unexpected=run.unexpected,
        cpu_ms=1000.0 * server_cpu / max(run.requests, 1),
        server_cpu_pct=100.0 * server_cpu / wall,
        wrk_cpu_pct=100.0 * wrk_cpu / wall,
        other_cpu_pct=100.0 * max(0.0, machine - server_cpu - wrk_cpu) / wall,
        socket_errors=run.socket_errors,
        statuses=run.statuses,
        sample=run.sample,
        profiled=profile is not None,
    )
    print(
        f"  {result.label:<48} {result.rps:8.1f} req/s  p50 {result.p50_ms:7.1f} ms  p99 {result.p99_ms:7.1f} ms"
        f"  {result.cpu_ms:6.2f} CPU ms/req  unexpected {result.unexpected}",
        flush=True,
    )
    return result


def measure_floor(options: Options) -> Result:
    with floor_server(options.server) as server:
        print(f"[floor] bare Litestar on {options.server} at {server.base_url}", flush=True)
        return measure("floor", "health", server, "health", [], options)


def measure_hub(database: str, extra_env: dict[str, str], options: Options) -> list[Result]:
    """Hub, one process, on one database: set up the data, then the three paths."""
    began = time.perf_counter()
    with hub_server(extra_env, server=options.server) as server:
        started = time.perf_counter()
        fixture = set_up(server)
        print(
            f"[{database}] Hub on {options.server} up in {started - began:.1f} s at {server.base_url}; set-up in "
            f"{time.perf_counter() - started:.1f} s (availability answers {fixture.availability_slots} slots, "
            f"team availability {fixture.team_slots})",
            flush=True,
        )
        if fixture.availability_slots != BUSY_BOOKINGS:
            print(f"  note: expected {BUSY_BOOKINGS} free slots around the {BUSY_BOOKINGS} bookings", flush=True)
        results = [
            measure(database, "health", server, "health", [], options),
            measure_bookings(database, "bookings", fixture, options),
        ]
        if database == "postgres":  # the ratio of a second process is taken on this one too
            results.append(measure_bookings(database, "bookings-hosts", fixture, options, hosts=SPREAD_HOSTS))
        return [
            *results,
            measure(
                database,
                "availability",
                server,
                "availability",
                [fixture.api_key, fixture.availability_path()],
                options,
            ),
            measure(
                database,
                "availability-new",
                server,
                "availability_windows",
                fixture.new_windows_args(NEW_WINDOWS_AFTER),
                options,
                warmup_args=fixture.new_windows_args(timedelta(0)),
            ),
            measure(
                database, "availability-team", server, "availability", [fixture.api_key, fixture.team_path()], options
            ),
        ]


def measure_bookings(database: str, path: str, fixture: Fixture, options: Options, *, hosts: int = 1) -> Result:
    """The booking path: fresh hosts for the warm-up and for the measured window, ``hosts`` of
    them taking the requests in turn."""

    def booking_args(name: str) -> list[str]:
        base = int(fixture.window_start.timestamp())
        ids = ",".join(fixture.new_host(f"{name} {n + 1}" if hosts > 1 else name) for n in range(hosts))
        return [fixture.api_key, ids, str(base), secrets.token_hex(4), str(WRK_THREADS)]

    warmup_args = booking_args("Bench Warm-up Host") if options.warmup > 0 else None
    args = booking_args("Bench Booking Host")
    return measure(database, path, fixture.server, "bookings", args, options, warmup_args=warmup_args)


def measure_bookings_two_processes(extra_env: dict[str, str], options: Options) -> list[Result]:
    """``hub serve --workers 2``: the booking path on one host, then spread over several."""
    with hub_server(extra_env, server=options.server, workers=2) as server:
        fixture = set_up(server, busy_host=False)
        print(f"[postgres] Hub on {options.server}, 2 processes, at {server.base_url}", flush=True)
        unprofiled = replace(options, profile=None)
        return [
            measure_bookings("postgres", "bookings-w2", fixture, unprofiled),
            measure_bookings("postgres", "bookings-hosts-w2", fixture, unprofiled, hosts=SPREAD_HOSTS),
        ]


# -- profiling -------------------------------------------------------------------------------

PROFILE_FORMATS = {".svg": "flamegraph", ".json": "speedscope", ".txt": "raw"}


def py_spy_path() -> str:
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if found is None:
        raise HarnessError(f"--profile needs py-spy: {Path(sys.executable).parent}/pip install py-spy (dev extras)")
    return found


def profile_path(base: Path, database: str) -> Path:
    return base.with_name(f"{base.stem}-{database}{base.suffix}")


def start_profile(py_spy: str, pid: int, seconds: int, output: Path) -> subprocess.Popen[str]:
    """``py-spy record`` of ``pid`` (and its subprocesses) for ``seconds``, written to ``output``."""
    output.parent.mkdir(parents=True, exist_ok=True)
    # --gil: only the thread holding the GIL is sampled, so the profile shows where the
    # process's CPU goes (a thread waiting on SQLite, PostgreSQL or Redis is not counted).
    command = [py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "100", "--gil"]
    command += ["--format", PROFILE_FORMATS[output.suffix], "--output", str(output), "--nonblocking", "--subprocesses"]
    sampler = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _live.append(sampler)
    return sampler


def finish_profile(sampler: subprocess.Popen[str], output: Path, seconds: int) -> None:
    try:
        text, _ = sampler.communicate(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        _stop(sampler, group=False, grace=2.0)
        text = "(timed out)"
    if sampler in _live:
        _live.remove(sampler)
    if sampler.returncode != 0 or not output.exists():
        raise HarnessError(f"py-spy record failed ({sampler.returncode}):\n{text[-2000:]}")
    print(f"  profile written to {output}", flush=True)
    if output.suffix == ".txt":
        summarise_profile(output)


def _frame_name(frame: str) -> str:
    """``handle (/.../site-packages/litestar/routes/http.py:12)`` -> ``handle (litestar/routes/http.py)``."""
    frame = re.sub(r":\d+\)$", ")", frame.strip())
    frame = re.sub(r"\(.*/(site-packages|lib/python3\.\d+)/", "(", frame)
    return frame.replace(f"({ROOT}/", "(")


def summarise_profile(raw: Path, top: int = 15) -> None:
    """Print the top functions by own time and Hub's own functions by inclusive time."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = [_frame_name(f) for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += int(count_text)
        own[frames[-1]] += int(count_text)
        for name in set(frames):
            inclusive[name] += int(count_text)
    print(f"  {total} samples; top {top} by own time:")
    for name, count in own.most_common(top):
        print(f"    {100.0 * count / max(total, 1):5.1f}%  {name}")
    print(f"  Hub's functions by inclusive time (top {top}):")
    for name, count in [(n, c) for n, c in inclusive.most_common() if "(hub/" in n][:top]:
        print(f"    {100.0 * count / max(total, 1):5.1f}%  {name}")


# -- report ----------------------------------------------------------------------------------


def verdict(
    result: Result, floor_rps: float, one_process_rps: float | None, one_user_rps: float | None = None
) -> tuple[float, str, bool | None]:
    """The share of the floor, the target text and whether it is met (``None``: no target)."""
    share = result.rps / floor_rps if floor_rps else 0.0
    if result.database == "floor":
        return share, "(the floor)", None
    if result.path == "availability-team":
        ratio = one_user_rps / result.rps if one_user_rps and result.rps else 0.0
        return share, f"costs x{ratio:.1f} the one-user 7-day query (no target)", None
    if result.path == "availability-new":
        ratio = one_user_rps / result.rps if one_user_rps and result.rps else 0.0
        return share, f"computed every time: costs x{ratio:.1f} the repeated query (no target)", None
    if result.path == "bookings-w2":  # one host's bookings queue on its lock, by design: no target
        ratio = result.rps / one_process_rps if one_process_rps else 0.0
        return share, f"one host: x{ratio:.2f} the 1-process rate (its writers queue on its lock)", None
    if result.path == "bookings-hosts-w2":
        ratio = result.rps / one_process_rps if one_process_rps else 0.0
        return share, f"raises the 1-process rate of {SPREAD_HOSTS} hosts: x{ratio:.2f}", ratio > 1.0
    if result.path == "bookings-hosts":
        return share, f"the 1-process rate the --workers 2 row of {SPREAD_HOSTS} hosts is compared with", None
    goal = TARGETS[result.database][result.path]
    met = share >= goal
    text = f">= {goal:g}"
    if result.database == "sqlite" and result.path == "bookings":
        spread = result.p99_ms / result.p50_ms if result.p50_ms else float("inf")
        created = 100.0 * (result.requests - result.unexpected) / max(result.requests, 1)
        met = met and spread <= SQLITE_BOOKING_P99_OVER_P50 and result.unexpected == 0 and result.requests > 0
        text += f", p99 <= {SQLITE_BOOKING_P99_OVER_P50:g}xp50 ({spread:.1f}x), 100 % 201 ({created:.2f} %)"
    return share, text, met


def report(run: int, runs: int, results: list[Result], options: Options) -> dict[tuple[str, str], bool | None]:
    """Print the table of one run; return whether each path met its target."""
    floor = next(r for r in results if r.database == "floor")
    one_process = {
        path: next((r.rps for r in results if r.key == ("postgres", path)), None)
        for path in ("bookings", "bookings-hosts")
    }
    print(
        f"\n== run {run}/{runs}: {options.server}, wrk {WRK_THREADS} threads x {CONNECTIONS} connections, "
        f"{options.warmup} s warm-up + {options.duration} s per path =="
    )
    header = (
        f"{'path':<48}{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'CPU ms/req':>11}{'non-2xx':>8}"
        f"{'srv %':>6}{'wrk %':>6}{'other %':>8}{'share':>8}  target"
    )
    print(header)
    print("-" * (len(header) + 40))
    verdicts: dict[tuple[str, str], bool | None] = {}
    for result in results:
        one_user = next((r.rps for r in results if r.key == (result.database, "availability")), None)
        compared = one_process["bookings-hosts" if result.path == "bookings-hosts-w2" else "bookings"]
        share, target, met = verdict(result, floor.rps, compared, one_user)
        verdicts[result.key] = met
        mark = "" if met is None else (": met" if met else ": MISSED")
        print(
            f"{result.label + (' (profiled)' if result.profiled else ''):<48}{result.rps:>9.1f}{result.p50_ms:>8.1f}"
            f"{result.p99_ms:>8.1f}{result.cpu_ms:>11.3f}{result.unexpected:>8}{result.server_cpu_pct:>6.0f}"
            f"{result.wrk_cpu_pct:>6.0f}{result.other_cpu_pct:>8.0f}{share:>8.3f}  {target}{mark}"
        )
    for result in results:
        if result.unexpected:
            print(f"  {result.label}: unexpected answers {result.statuses or result.unexpected}, e.g. {result.sample}")
        if result.socket_errors:
            print(f"  {result.label}: wrk socket errors {result.socket_errors}")
    return verdicts


def report_spread(all_runs: list[list[Result]], all_verdicts: list[dict[tuple[str, str], bool | None]]) -> None:
    """Median, min and max of each path's figures over the runs."""

    def spread(values: list[float], digits: int) -> str:
        return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f} - {max(values):.{digits}f}]"

    print(f"\n== {len(all_runs)} runs: median [min - max] ==")
    print(f"{'path':<48}  {'req/s':>24}  {'p99 ms':>24}  {'CPU ms/req':>24}  {'share of floor':>24}  target met")
    for key in [r.key for r in all_runs[0]]:
        rows = [next(r for r in results if r.key == key) for results in all_runs]
        floors = [next(r for r in results if r.database == "floor").rps for results in all_runs]
        shares = [row.rps / floor if floor else 0.0 for row, floor in zip(rows, floors, strict=True)]
        met = [v[key] for v in all_verdicts if v.get(key) is not None]
        print(
            f"{rows[0].label:<48}  {spread([r.rps for r in rows], 1):>24}  {spread([r.p99_ms for r in rows], 1):>24}"
            f"  {spread([r.cpu_ms for r in rows], 3):>24}  {spread(shares, 3):>24}"
            f"  {f'{sum(bool(m) for m in met)}/{len(met)}' if met else '-'}"
        )


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Hub's request paths against a bare Litestar app, measured with wrk (see bench/README.md)."
    )
    parser.add_argument("--duration", type=int, default=10, help="measured seconds per path (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="wrk warm-up seconds before each path (default 2)")
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole run N times and print the spread")
    parser.add_argument("--only", choices=["sqlite", "postgres"], help="measure Hub on this database only")
    parser.add_argument("--server", choices=SERVERS, default="uvicorn", help="ASGI server of the floor and Hub")
    parser.add_argument("--profile", type=Path, help="py-spy profile of one path (bookings): .svg, .json or .txt")
    parser.add_argument(
        "--profile-path",
        choices=("bookings", "availability", "availability-new", "availability-team", "health"),
        default="bookings",
        help="the path --profile samples (default bookings)",
    )
    parser.add_argument("--verbose", action="store_true", help="print wrk's own output of every measured window")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.warmup < 0 or args.runs < 1:
        parser.error("--duration must be >= 1, --warmup >= 0 and --runs >= 1")
    if args.profile is not None and args.profile.suffix not in PROFILE_FORMATS:
        parser.error(f"--profile must end in one of {', '.join(PROFILE_FORMATS)}")
    return args


def _describe_machine(options: Options) -> str:
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False).stdout
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    wrk_words = wrk_version.split()
    return (
        f"Hub {commit or '?'}; Python {platform.python_version()}, {options.server}, "
        f"wrk {wrk_words[1] if len(wrk_words) > 1 else '?'}; {os.cpu_count()} CPUs, load average {load}"
    )


def run_once(args: argparse.Namespace, options: Options, postgres: tuple[str, dict[str, str]] | None) -> list[Result]:
    results = [measure_floor(options)]
    if args.only in (None, "sqlite"):
        results += measure_hub("sqlite", {}, replace(options, profile=_for(options.profile, "sqlite")))
    if postgres is not None:
        admin_url, redis_env = postgres
        pg_options = replace(options, profile=_for(options.profile, "postgres"))
        for workers in (1, 2):
            with postgres_database(admin_url) as url:
                env = {"HUB_DATABASE_URL": url, **redis_env}
                try:
                    if workers == 1:
                        results += measure_hub("postgres", env, pg_options)
                    else:
                        results += measure_bookings_two_processes(env, options)
                finally:
                    if "HUB_REDIS_URL" in redis_env:
                        removed = purge_outbox_jobs(redis_env["HUB_REDIS_URL"], url)
                        print(f"  removed the {removed} jobs this server queued in {redis_env['HUB_REDIS_URL']}")
    return results


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown without its credentials part
        return url.rpartition("@")[2]


def _for(base: Path | None, database: str) -> Path | None:
    return None if base is None else profile_path(base, database)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_signal)
    atexit.register(_stop_all)
    try:
        if shutil.which("wrk") is None:
            raise HarnessError(
                "wrk is not installed: `sudo apt-get install wrk` (Debian/Ubuntu; `brew install wrk` on macOS) "
                "or build it from https://github.com/wg/wrk"
            )
        check_server_installed(args.server)
        options = Options(
            args.warmup, args.duration, args.server, args.verbose, args.profile, profile_path=args.profile_path
        )
        if args.profile is not None:
            options.py_spy = py_spy_path()
        postgres: tuple[str, dict[str, str]] | None = None
        admin_url = os.environ.get("HUB_TEST_DATABASE_URL", "").strip()
        if args.only in (None, "postgres"):
            if admin_url:
                if (reason := postgres_unreachable(admin_url)) is not None:
                    raise HarnessError(f"HUB_TEST_DATABASE_URL={_safe_url(admin_url)} is unreachable: {reason}")
                redis_url = os.environ.get("HUB_TEST_REDIS_URL", "").strip()
                if redis_url and (reason := redis_unreachable(redis_url)) is not None:
                    raise HarnessError(f"HUB_TEST_REDIS_URL={redis_url} is unreachable: {reason}")
                postgres = (admin_url, {"HUB_REDIS_URL": redis_url} if redis_url else {})
            elif args.only == "postgres":
                raise HarnessError(
                    "--only postgres needs HUB_TEST_DATABASE_URL (a PostgreSQL server to create databases on)"
                )
            else:
                print("PostgreSQL: skipped (set HUB_TEST_DATABASE_URL to include it)")
        print(_describe_machine(options), flush=True)
        began = time.perf_counter()
        all_runs: list[list[Result]] = []
        all_verdicts: list[dict[tuple[str, str], bool | None]] = []
        for run in range(1, args.runs + 1):
            print(f"\n-- run {run}/{args.runs} --", flush=True)
            results = run_once(args, options, postgres)
            all_runs.append(results)
            all_verdicts.append(report(run, args.runs, results, options))
            options.profile = None  # profile the first run only
        if args.runs > 1:
            report_spread(all_runs, all_verdicts)
        missed = sum(1 for verdicts in all_verdicts for met in verdicts.values() if met is False)
        print(
            f"\nTotal time {time.perf_counter() - began:.0f} s. "
            + (f"{missed} target(s) MISSED (printed above; not a harness error)." if missed else "Every target met.")
        )
        return 0
    except HarnessError as exc:
        print(f"\nbench/run.py: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nbench/run.py: interrupted", file=sys.stderr)
        return 130
    finally:
        _stop_all()


if __name__ == "__main__":
    sys.exit(main())
