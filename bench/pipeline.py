"""Commit -> client webhook latency under steady load, through the real pipeline.

    .venv/bin/python bench/pipeline.py [--rate 50] [--seconds 10] [--workers 2]

Starts an embedded Redis, ``hub serve`` and ``hub worker`` processes on a fresh SQLite data
dir, a local webhook receiver, then creates bookings at a steady rate. For each booking the
latency is the time from the booking's ``created_at`` (set inside the committing transaction)
to the moment the signed ``booking.created`` webhook reaches the receiver (the route is
outbox relay -> dispatch job -> fan-out job -> delivery job -> HTTP). Prints p50/p99 against the
target (p99 <= 1 s at 50 bookings/s with warm workers).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub.redis import start_embedded  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Receiver:
    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                arrived = time.time()
                data = json.loads(body)
                receiver.arrivals.setdefault(data["data"]["id"], arrived)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="hub-bench-pipeline-"))
    env = {
        **os.environ,
        "HUB_DATA_DIR": str(data_dir),
        "HUB_REDIS_URL": start_embedded(data_dir / "redis"),
        "HUB_RATE_LIMIT_PER_MINUTE": "0",
        "HUB_LOG_LEVEL": "warning",
        "HUB_LOG_FORMAT": "json",
        "HUB_WEBHOOKS_ALLOW_PRIVATE": "true",
        "HUB_EMAIL_BACKEND": "file",
    }
    hub = [sys.executable, "-m", "hub.cli"]
    subprocess.run([*hub, "migrate"], env=env, check=True, capture_output=True)
    keys = subprocess.run(
        [*hub, "keys", "create", "--org", "bench", "--json"], env=env, check=True, capture_output=True, text=True
    )
    key = json.loads(keys.stdout.strip().splitlines()[-1])["api_key"]
    port = free_port()
    processes = [
        subprocess.Popen(
            [*hub, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    ]
    processes += [
        subprocess.Popen([*hub, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(args.workers)
    ]
    receiver = Receiver()
    base = f"http://127.0.0.1:{port}"
    try:
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10)
        deadline = time.time() + 30
        while True:
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                raise RuntimeError("hub serve did not start")
            time.sleep(0.1)
        client.post(
            "/v1/webhook-endpoints", json={"url": receiver.url, "events": ["booking.created"]}
        ).raise_for_status()
        host = client.post(
            "/v1/users",
            json={
                "name": "Bench",
                "email": "bench@example.com",
                "timezone": "UTC",
                "working_hours": [
                    {"weekday": d, "start": "00:00", "end": "24:00"}
                    for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
                ],
            },
        )
        host.raise_for_status()
        host_id = host.json()["id"]

        created: dict[str, float] = {}
        total = int(args.rate * args.seconds)
        started = time.time()
        for i in range(total):
            wait = started + i / args.rate - time.time()
            if wait > 0:
                time.sleep(wait)
            minute = 60 * 24 * 30 + i * 15
            day, rest = divmod(minute, 60 * 24)
            start = f"2031-{1 + day // 28:02d}-{1 + day % 28:02d}T{rest // 60:02d}:{rest % 60:02d}:00Z"
            response = client.post(
                "/v1/bookings",
                json={
                    "host_id": host_id,
                    "start": start,
                    "duration_minutes": 15,
                    "attendees": [{"email": "guest@example.com"}],
                },
            )
            if response.status_code == 201:
                body = response.json()
                created[body["id"]] = datetime.fromisoformat(body["created_at"].replace("Z", "+00:00")).timestamp()
        achieved = total / (time.time() - started)
        deadline = time.time() + 60
        while len(receiver.arrivals) < len(created) and time.time() < deadline:
            time.sleep(0.1)
        latencies = [receiver.arrivals[b] - t for b, t in created.items() if b in receiver.arrivals]
        missing = len(created) - len(latencies)
        print(
            f"pipeline: {len(created)} bookings at {achieved:.0f}/s with {args.workers} worker(s); "
            f"commit -> webhook received p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms "
            f"(target p99 <= 1000 ms); {missing} not delivered within 60 s"
        )
        return 0 if missing == 0 and percentile(latencies, 0.99) <= 1.0 else 1
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    sys.exit(main())
