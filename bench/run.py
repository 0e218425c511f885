"""End-to-end HTTP benchmark of Hub: a real ``hub serve`` process driven by a separate load generator.

Run with ``.venv/bin/python bench/run.py [--database sqlite|postgres|both] [--duration S] [--concurrency N]``.

For each database the script

1. starts ``hub serve --workers 1`` on a free port with a fresh temporary ``HUB_DATA_DIR``
   (SQLite: the embedded database and embedded Redis; PostgreSQL: a fresh ``hub_bench_<random>``
   database on the server of ``--postgres-url``, dropped afterwards, and ``--redis-url``), with
   rate limiting off and warning-level logs, and waits for ``/health``;
2. creates an owner key with ``hub keys create``, a host who works 00:00-24:00 UTC every day, and
   a second host with 200 confirmed bookings spread over a 7-day window;
3. runs ``bench/loadgen.py`` (asyncio + httpx, its own process) for each scenario: ``GET /health``
   (the floor), ``POST /v1/bookings`` (unique 15-minute slots, a unique ``Idempotency-Key`` each)
   and ``GET /v1/availability`` (7 days, 30-minute slots, the host with 200 bookings);
4. prints requests/s, p50/p99 latency, errors and each rate as a percentage of the ``/health``
   rate against the targets, with the CPU used in the window by the server, by the load generator
   and by everything else on the machine (the figures only mean something on a quiet machine).

At the end it runs ``bench/engine.py`` when present. The exit status is 1 when a target is
missed. Every process started here is stopped on exit, also after errors or Ctrl-C.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/3"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BUSY_BOOKINGS = 200
AVAILABILITY_DAYS = 7
AVAILABILITY_DURATION = 30
BOOKING_TARGET_RATIO = 10.0  # percent of the /health rate
BOOKING_TARGET_P99_MS = 25.0
AVAILABILITY_TARGET_RATIO = 20.0
STARTUP_TIMEOUT = 60.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

_live: list[subprocess.Popen[Any]] = []  # every child still running, stopped by _stop_all


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


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _system_busy_seconds() -> float:
    """CPU seconds all CPUs of the machine spent busy so far (everything but idle and iowait)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


@dataclass
class CpuSample:
    """CPU seconds of the server, the load generator and the whole machine at one moment."""

    at: float
    server: float
    generator: float
    machine: float

    @classmethod
    def take(cls, server_pid: int, generator_pid: int) -> CpuSample:
        return cls(time.perf_counter(), _cpu_seconds(server_pid), _cpu_seconds(generator_pid), _system_busy_seconds())


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Server:
    """A running ``hub serve`` process."""

    process: subprocess.Popen[Any]
    base_url: str
    env: dict[str, str]
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


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
def hub_server(extra_env: dict[str, str]) -> Iterator[Server]:
    """Start ``hub serve --workers 1`` with a fresh data directory; stop it (and its Redis) on exit."""
    data_dir = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_DATA_DIR=str(data_dir),
        HUB_RATE_LIMIT_PER_MINUTE="0",
        HUB_LOG_LEVEL="warning",
        PYTHONUNBUFFERED="1",
        **extra_env,
    )
    port = _free_port()
    log_path = data_dir / "server.log"
    process: subprocess.Popen[Any] | None = None
    redis_pids: list[int] = []
    try:
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*_hub_command(), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
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
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"hub serve exited with {process.returncode}:\n{server.log_tail()}")
            try:
                if httpx.get(f"{server.base_url}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"hub serve did not answer /health in {STARTUP_TIMEOUT:g} s:\n{server.log_tail()}")
            time.sleep(0.1)
        redis_pids = _embedded_redis_pids(data_dir)
        yield server
    finally:
        if process is not None:
            _stop(process, group=True)
        for pid in redis_pids or _embedded_redis_pids(data_dir):
            _stop_redis(pid)
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh ``hub_bench_<random>`` database on the server of ``admin_url``, dropped on exit."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

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
    import psycopg
    import redis

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
        import psycopg

        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "skip PostgreSQL"
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    return None


def redis_reachable(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping())
    except Exception:  # noqa: BLE001
        return False


@dataclass
class Fixture:
    """What the scenarios need: the key and the two hosts."""

    api_key: str
    free_host: str
    busy_host: str
    window_start: datetime
    availability_slots: int = 0


def _expect(response: httpx.Response, status: int, what: str) -> dict[str, Any]:
    if response.status_code != status:
        raise RuntimeError(f"{what}: expected {status}, got {response.status_code}: {response.text[:500]}")
    return dict(response.json())


def set_up(server: Server) -> Fixture:
    """Owner key via the CLI, then the hosts and the 200 busy bookings via HTTP."""
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
        raise RuntimeError(f"hub keys create failed ({created.returncode}):\n{created.stdout}\n{created.stderr}")
    api_key = json.loads(lines[-1])["api_key"]
    window_start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)
    all_day = [{"weekday": day, "start": "00:00", "end": "24:00"} for day in WEEKDAYS]
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30.0) as client:
        free_host = _expect(
            client.post(
                "/v1/users",
                json={
                    "name": "Bench Free Host",
                    "email": "free@example.com",
                    "timezone": "UTC",
                    "working_hours": all_day,
                },
            ),
            201,
            "create free host",
        )["id"]
        busy_host = _expect(
            client.post(
                "/v1/users",
                json={
                    "name": "Bench Busy Host",
                    "email": "busy@example.com",
                    "timezone": "UTC",
                    "working_hours": all_day,
                },
            ),
            201,
            "create busy host",
        )["id"]
        # Distinct half-hours of the window, 15 to 30 minutes each: every booking takes exactly one
        # of the 336 half-hour slots, so availability answers 136 slots around 200 busy blocks.
        half_hours = sorted(random.Random(20261201).sample(range(AVAILABILITY_DAYS * 48), BUSY_BOOKINGS))

        def book(index: int) -> None:
            _expect(
                client.post(
                    "/v1/bookings",
                    json={
                        "host_id": busy_host,
                        "start": _iso(window_start + timedelta(minutes=30 * half_hours[index])),
                        "duration_minutes": 15 + 5 * (index % 4),
                        "title": f"Busy {index}",
                        "ignore_availability": True,
                    },
                ),
                201,
                f"busy booking {index}",
            )

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(book, range(BUSY_BOOKINGS)))
        fixture = Fixture(api_key, free_host, busy_host, window_start)
        answer = _expect(client.get("/v1/availability", params=availability_params(fixture)), 200, "availability")
        fixture.availability_slots = len(answer["slots"])
    return fixture


def availability_params(fixture: Fixture) -> dict[str, str]:
    return {
        "user_id": fixture.busy_host,
        "start": _iso(fixture.window_start),
        "end": _iso(fixture.window_start + timedelta(days=AVAILABILITY_DAYS)),
        "duration_minutes": str(AVAILABILITY_DURATION),
    }


@dataclass
class Result:
    """Figures of one scenario on one database."""

    scenario: str
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    requests: int = 0
    errors: int = 0
    error_samples: dict[str, dict[str, Any]] = field(default_factory=dict)  # label -> count, example
    server_cpu_pct: float = 0.0
    server_cpu_ms: float = 0.0  # server CPU time per request
    client_cpu_pct: float = 0.0
    other_cpu_pct: float = 0.0  # everything else running on the machine meanwhile


def drive(server: Server, spec: dict[str, Any]) -> Result:
    """Run the load generator for one scenario, sampling the server's CPU time over the window."""
    spec = {"base_url": server.base_url, **spec}
    # stderr goes to a file, not a pipe: a chatty stderr cannot block the generator
    with tempfile.TemporaryFile(mode="w+") as errors:
        process = subprocess.Popen(
            [sys.executable, str(BENCH_DIR / "loadgen.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            cwd=ROOT,
            start_new_session=True,
        )
        _live.append(process)
        try:
            assert process.stdin is not None
            assert process.stdout is not None
            process.stdin.write(json.dumps(spec))
            process.stdin.close()
            start: CpuSample | None = None
            end: CpuSample | None = None
            payload: dict[str, Any] | None = None
            for line in process.stdout:
                line = line.strip()
                if line == "MEASURE_START":
                    start = CpuSample.take(server.process.pid, process.pid)
                elif line == "MEASURE_END":
                    end = CpuSample.take(server.process.pid, process.pid)
                elif line.startswith("{"):
                    payload = json.loads(line)
            process.wait(timeout=60)
            if payload is None or start is None or end is None or process.returncode != 0:
                errors.seek(0)
                raise RuntimeError(f"load generator failed ({process.returncode}):\n{errors.read()[-2000:]}")
        finally:
            _stop(process, group=True, grace=2.0)
    wall = max(end.at - start.at, 1e-9)
    busy = end.machine - start.machine
    return Result(
        scenario=spec["scenario"],
        rps=payload["rps"],
        p50_ms=payload["p50_ms"],
        p99_ms=payload["p99_ms"],
        requests=payload["requests"],
        errors=payload["errors"],
        error_samples=payload["error_samples"],
        server_cpu_pct=100.0 * (end.server - start.server) / wall,
        server_cpu_ms=1000.0 * (end.server - start.server) / max(payload["requests"], 1),
        client_cpu_pct=100.0 * (end.generator - start.generator) / wall,
        other_cpu_pct=100.0 * max(0.0, busy - (end.server - start.server) - (end.generator - start.generator)) / wall,
    )


def bench_database(label: str, extra_env: dict[str, str], args: argparse.Namespace) -> list[Result]:
    """Start a server on one database, set up the data and run the three scenarios."""
    began = time.perf_counter()
    with hub_server(extra_env) as server:
        started = time.perf_counter()
        fixture = set_up(server)
        print(
            f"[{label}] server up in {started - began:.1f} s at {server.base_url}; set-up in "
            f"{time.perf_counter() - started:.1f} s (availability answers {fixture.availability_slots} slots)",
            flush=True,
        )
        common = {
            "concurrency": args.concurrency,
            "warmup": args.warmup,
            "duration": args.duration,
            "api_key": fixture.api_key,
        }
        specs: list[dict[str, Any]] = [
            {"scenario": "health"},
            {
                "scenario": "bookings",
                "host_id": fixture.free_host,
                "run_id": secrets.token_hex(4),
                "slot_base": int(fixture.window_start.timestamp()),
            },
            {"scenario": "availability", **availability_params(fixture)},
        ]
        results = []
        for spec in specs:
            result = drive(server, {**common, **spec})
            print(
                f"[{label}] {result.scenario:<12} {result.rps:8.0f} req/s  p50 {result.p50_ms:6.1f} ms  "
                f"p99 {result.p99_ms:6.1f} ms  errors {result.errors}",
                flush=True,
            )
            results.append(result)
        return results


SCENARIO_NAMES = {
    "health": "GET /health",
    "bookings": "POST /v1/bookings",
    "availability": "GET /v1/availability",
}


def report(label: str, results: list[Result], concurrency: int) -> bool:
    """Print the table of one database; return whether every target is met.

    ``% health`` is the measured rate over the measured ``/health`` rate (the targets). ``srv cpu``
    is the server process's CPU use during the window, ``cpu ms/req`` its CPU time per request,
    and ``% by cpu`` the ``/health`` CPU cost over the scenario's: the ratio the server would
    reach if its one process's CPU were the only limit (independent of the load generator).
    ``gen cpu`` is the load generator's CPU use and ``other`` that of everything else on the
    machine (100% = one CPU), which includes the PostgreSQL server in the PostgreSQL run: a busy
    machine makes every figure worse.
    """
    health = next((r for r in results if r.scenario == "health"), None)
    health_rps = health.rps if health and health.rps else float("inf")
    health_ms = health.server_cpu_ms if health else 0.0
    print(f"\n== {label}: {concurrency} concurrent clients ==")
    header = (
        f"{'scenario':<22}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}{'% health':>9}"
        f"{'srv cpu':>8}{'cpu ms/req':>11}{'% by cpu':>9}{'gen cpu':>8}{'other':>7}  target"
    )
    print(header)
    print("-" * (len(header) + 38))
    all_met = True
    for result in results:
        ratio = 100.0 * result.rps / health_rps
        by_cpu = 100.0 * health_ms / result.server_cpu_ms if result.server_cpu_ms else 0.0
        if result.scenario == "bookings":
            met = ratio >= BOOKING_TARGET_RATIO and result.p99_ms <= BOOKING_TARGET_P99_MS and result.errors == 0
            target = f">= {BOOKING_TARGET_RATIO:g}% and p99 <= {BOOKING_TARGET_P99_MS:g} ms"
        elif result.scenario == "availability":
            met = ratio >= AVAILABILITY_TARGET_RATIO and result.errors == 0
            target = f">= {AVAILABILITY_TARGET_RATIO:g}%"
        else:
            met, target = result.errors == 0, "(floor)"
        all_met = all_met and met
        print(
            f"{SCENARIO_NAMES[result.scenario]:<22}{result.rps:>8.0f}{result.p50_ms:>8.1f}{result.p99_ms:>8.1f}"
            f"{result.errors:>7}{ratio:>8.1f}%{result.server_cpu_pct:>7.0f}%{result.server_cpu_ms:>11.2f}"
            f"{by_cpu:>8.1f}%{result.client_cpu_pct:>7.0f}%{result.other_cpu_pct:>6.0f}%"
            f"  {target}: {'ok' if met else 'MISSED'}"
        )
    if health is not None and health.server_cpu_pct < 80:
        print(
            f"  note: /health is not limited by the server (server {health.server_cpu_pct:.0f}%, load generator "
            f"{health.client_cpu_pct:.0f}%, other {health.other_cpu_pct:.0f}% of {os.cpu_count()} CPUs): the floor is "
            "the client and the machine; '% by cpu' compares the server's own cost instead."
        )
    for result in results:
        for label, sample in result.error_samples.items():
            print(f"  {SCENARIO_NAMES[result.scenario]}: {sample['count']} x {label}, e.g. {sample['example']}")
    return all_met


def run_engine() -> bool:
    """Run ``bench/engine.py`` when present and print its output; return whether it passed."""
    engine = BENCH_DIR / "engine.py"
    if not engine.exists():
        print("\nbench/engine.py: not present, skipped")
        return True
    print("\n== bench/engine.py ==", flush=True)
    try:
        completed = subprocess.run(
            [sys.executable, str(engine)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
        )
    except subprocess.TimeoutExpired:
        print("bench/engine.py: timed out after 120 s")
        return False
    for line in (completed.stdout + completed.stderr).splitlines():
        print(line)
    print(f"(exit status {completed.returncode})")
    return completed.returncode == 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per scenario (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per scenario (default 1)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight (default 32)")
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help="a database on the PostgreSQL server to use (a fresh one is created beside it)",
    )
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="Redis for the PostgreSQL run")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, _on_signal)
    atexit.register(_stop_all)
    began = time.perf_counter()
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load}; {args.concurrency} clients, "
        f"{args.warmup:g} s warm-up + {args.duration:g} s per scenario",
        flush=True,
    )
    tables: list[tuple[str, list[Result]]] = []
    skipped: list[str] = []
    try:
        if args.database in ("sqlite", "both"):
            tables.append(("SQLite (embedded)", bench_database("sqlite", {}, args)))
        if args.database in ("postgres", "both"):
            reason = postgres_unreachable(args.postgres_url)
            if reason is not None:
                message = f"PostgreSQL skipped: {args.postgres_url} is unreachable ({reason})"
                print(message, flush=True)
                skipped.append(message)
            else:
                env: dict[str, str] = {}
                if redis_reachable(args.redis_url):
                    env["HUB_REDIS_URL"] = args.redis_url
                else:
                    print(f"[postgres] {args.redis_url} is unreachable: using the embedded Redis", flush=True)
                with postgres_database(args.postgres_url) as url:
                    env["HUB_DATABASE_URL"] = url
                    try:
                        tables.append(("PostgreSQL", bench_database("postgres", env, args)))
                    finally:
                        if "HUB_REDIS_URL" in env:
                            removed = purge_outbox_jobs(env["HUB_REDIS_URL"], url)
                            print(f"[postgres] removed {removed} queued jobs of this run from {args.redis_url}")
    finally:
        _stop_all()
    met = [report(label, results, args.concurrency) for label, results in tables]  # print every table
    for message in skipped:
        print(f"\n{message}")
    engine_ok = run_engine()
    print(
        f"\nTotal time {time.perf_counter() - began:.0f} s. "
        f"HTTP targets: {'all met' if all(met) else 'MISSED'}; engine: {'ok' if engine_ok else 'MISSED'}."
    )
    return 0 if all(met) and engine_ok else 1


if __name__ == "__main__":
    sys.exit(main())
