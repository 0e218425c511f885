"""Time what an unauthenticated Graph batch costs Hub: ``POST /webhooks/microsoft`` with bodies of
unknown subscription ids, against a real ``hub serve``.

Run with ``.venv/bin/python bench/graph_intake.py [--requests N]``.

The script starts ``hub serve --workers 1`` on the embedded defaults (bench/run.py's
``hub_server``) with Microsoft configured (a made-up client id and secret: nothing here calls
Microsoft), then POSTs ``--requests`` bodies of each size after a warm-up: one notification, 1,000
(the largest batch Hub takes) and 1,200 (the batch that used to cost one database query per
item). Every subscription id is unknown to Hub and every ``clientState`` is a guess, so nothing is
stored: the figure is what anybody on the internet can make Hub spend per request. It prints
each body's size, the status codes and the p50/p90 latency.

It is a benchmark, not a test: it prints figures and exits 0 unless something broke.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.run import hub_server

SIZES = (1, 1_000, 1_200)
WARM_UP = 3


def body(items: int) -> bytes:
    value = [{"subscriptionId": f"unknown-{n:05d}", "clientState": "x"} for n in range(items)]
    return json.dumps({"value": value}, separators=(",", ":")).encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    env = {"HUB_MICROSOFT_CLIENT_ID": "bench-client", "HUB_MICROSOFT_CLIENT_SECRET": "bench-secret"}
    with hub_server(env) as server, httpx.Client(base_url=server.base_url, timeout=30) as client:
        for items in SIZES:
            payload = body(items)
            headers = {"Content-Type": "application/json; charset=utf-8"}
            for _ in range(WARM_UP):
                client.post("/webhooks/microsoft", content=payload, headers=headers)
            timings: list[float] = []
            statuses: set[int] = set()
            for _ in range(args.requests):
                started = time.perf_counter()
                answer = client.post("/webhooks/microsoft", content=payload, headers=headers)
                timings.append((time.perf_counter() - started) * 1000)
                statuses.add(answer.status_code)
            timings.sort()
            p90 = timings[min(len(timings) - 1, int(len(timings) * 0.9))]
            print(
                f"{items:>5} items  {len(payload) / 1024:5.1f} KiB  status {sorted(statuses)}  "
                f"p50 {statistics.median(timings):7.1f} ms  p90 {p90:7.1f} ms  ({args.requests} requests)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
