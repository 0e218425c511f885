"""The load generator of ``bench/run.py``: one process, asyncio (uvloop when installed) and httpx.

It reads one JSON spec on stdin, keeps ``concurrency`` requests in flight against a running
Hub for a warm-up and then a measured window, and prints, on stdout:

* ``MEASURE_START`` when the measured window begins and ``MEASURE_END`` when it is over (the
  caller samples the server's CPU time at those moments), then
* one JSON object: request count, errors, requests/s and latency percentiles of the window.

Only requests *started* inside the measured window are counted; no new request starts after it.
Each simulated client has its own ``httpx.AsyncClient`` with one keep-alive connection: one pool
shared by all of them costs the generator about five times more CPU per request (httpcore's pool
bookkeeping grows with the number of waiting requests), which would make the generator, not the
server, the limit.

Spec keys: ``base_url``, ``scenario`` (``health``, ``bookings`` or ``availability``),
``concurrency``, ``warmup``, ``duration``, ``api_key`` and the scenario's parameters
(``host_id``, ``slot_base`` epoch seconds and ``run_id`` for bookings; ``user_id``, ``start``,
``end`` and ``duration_minutes`` for availability).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

SLOT_SECONDS = 15 * 60
MAX_ERROR_SAMPLES = 5


@dataclass
class Request:
    """One request to send: method, path (with query), headers, body, and the expected status."""

    method: str
    path: str
    expected: int
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None


@dataclass
class Tally:
    """What the measured window saw."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    error_samples: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_done: float = 0.0

    def error(self, label: str, example: str) -> None:
        """Count one unexpected answer under ``label`` (status and problem code), keeping one example."""
        self.errors += 1
        if label in self.error_samples:
            self.error_samples[label]["count"] += 1
        elif len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples[label] = {"count": 1, "example": example[:300]}


def _error_label(response: httpx.Response) -> str:
    """``409 booking_conflict``: the status and, for a problem body, its ``code``."""
    try:
        code = response.json().get("code")
    except (ValueError, AttributeError):
        code = None
    return f"{response.status_code} {code}" if code else str(response.status_code)


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def request_factory(spec: dict[str, Any]) -> Callable[[], Request]:
    """A function returning the next request of the scenario."""
    scenario = spec["scenario"]
    auth = {"Authorization": f"Bearer {spec.get('api_key', '')}"}
    if scenario == "health":
        health = Request("GET", "/health", 200)
        return lambda: health
    if scenario == "availability":
        query = httpx.QueryParams(
            {
                "user_id": spec["user_id"],
                "start": spec["start"],
                "end": spec["end"],
                "duration_minutes": str(spec["duration_minutes"]),
            }
        )
        availability = Request("GET", f"/v1/availability?{query}", 200, headers=auth)
        return lambda: availability
    if scenario == "bookings":
        counter = iter(range(10**9))
        host_id, base, run_id = spec["host_id"], int(spec["slot_base"]), spec["run_id"]

        def booking() -> Request:
            index = next(counter)
            body = {
                "host_id": host_id,
                "start": _iso(base + index * SLOT_SECONDS),
                "duration_minutes": 15,
                "title": f"Bench call {index}",
                "attendees": [{"email": "guest@example.com", "name": "Guest"}],
                "metadata": {"bench": run_id},
            }
            headers = {**auth, "Content-Type": "application/json", "Idempotency-Key": f"bench-{run_id}-{index}"}
            return Request("POST", "/v1/bookings", 201, headers=headers, content=json.dumps(body).encode())

        return booking
    raise SystemExit(f"unknown scenario {scenario!r}")


async def _worker(
    client: httpx.AsyncClient, next_request: Callable[[], Request], measure_from: float, stop_at: float, tally: Tally
) -> None:
    while True:
        began = time.perf_counter()
        if began >= stop_at:
            return
        request = next_request()
        label: str | None = None
        example = ""
        try:
            response = await client.request(
                request.method, request.path, headers=request.headers, content=request.content
            )
            if response.status_code != request.expected:
                label, example = _error_label(response), response.text
            status = str(response.status_code)
        except httpx.HTTPError as exc:
            label, example = type(exc).__name__, str(exc)
            status = type(exc).__name__
        done = time.perf_counter()
        if began >= measure_from:
            tally.latencies.append(done - began)
            tally.statuses[status] += 1
            tally.last_done = max(tally.last_done, done)
            if label is not None:
                tally.error(label, example)


async def _announce(at: float, line: str) -> None:
    await asyncio.sleep(max(0.0, at - time.perf_counter()))
    print(line, flush=True)


def _percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Drive the scenario and return the figures of the measured window."""
    concurrency = int(spec["concurrency"])
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    next_request = request_factory(spec)
    tally = Tally()
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=spec["base_url"], limits=limits, timeout=30.0))
            for _ in range(concurrency)
        ]
        cpu_start = time.process_time()
        measure_from = time.perf_counter() + float(spec["warmup"])
        stop_at = measure_from + float(spec["duration"])
        announcer = asyncio.create_task(_announce(measure_from, "MEASURE_START"))
        await asyncio.gather(*(_worker(client, next_request, measure_from, stop_at, tally) for client in clients))
        await announcer
        print("MEASURE_END", flush=True)
        wall = time.perf_counter() - (measure_from - float(spec["warmup"]))
        cpu = time.process_time() - cpu_start
    latencies = sorted(tally.latencies)
    elapsed = max(tally.last_done - measure_from, 1e-9)
    return {
        "scenario": spec["scenario"],
        "requests": len(latencies),
        "errors": tally.errors,
        "error_samples": tally.error_samples,
        "statuses": dict(tally.statuses),
        "elapsed_s": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "max_ms": (latencies[-1] * 1000) if latencies else 0.0,
        "client_cpu_pct": 100.0 * cpu / wall if wall > 0 else 0.0,
    }


def _run_loop(main: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """Run ``main`` on uvloop when it is installed (less client CPU per request), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def main() -> int:
    spec = json.loads(sys.stdin.read())
    result = _run_loop(run(spec))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
