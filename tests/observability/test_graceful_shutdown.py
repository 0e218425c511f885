"""SIGTERM in the middle of a burst loses nothing and sends nothing twice.

A real ``hub serve`` process takes a burst of bookings from several threads and is stopped
with SIGTERM halfway through: it stops accepting, finishes the requests in flight, and its
outbox relay drains before it exits with status 0. A real ``hub worker`` is then stopped with SIGTERM while
it delivers (warm shutdown: the running job ends) and a second worker finishes the work.
Every booking that got a 201 exists exactly once and reaches the client exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import select

from hub.auth.service import bootstrap_key
from hub.db import Database
from hub.db.tables import Booking, OutboxMessage
from hub.jobs.queues import NOTIFY, queue
from hub.settings import Settings
from tests.support.servers import RedisServer, WebhookReceiver, free_port, wait_for
from tests.support.workers import WorkerProcess, hub_env

pytestmark = pytest.mark.slow

THREADS = 8
SIGTERM_AFTER = 40  # bookings created before the server is told to stop


def slots() -> Iterator[str]:
    """Half-hour slots inside Monday-Friday 09:00-17:00, day after day from a Monday in 2031."""
    day = date(2031, 1, 6)
    while True:
        if day.weekday() < 5:
            for minutes in range(9 * 60, 17 * 60, 30):
                yield f"{day.isoformat()}T{minutes // 60:02d}:{minutes % 60:02d}:00"
        day += timedelta(days=1)


class Burst:
    """Threads creating bookings until the server stops answering."""

    def __init__(self, url: str, key: str, host_id: str) -> None:
        self.url = url
        self.key = key
        self.host_id = host_id
        self.slots = slots()
        self.lock = threading.Lock()
        self.created: list[str] = []
        self.other: list[str] = []  # answers that were not 201, and transport errors
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(THREADS)]

    def start(self) -> Burst:
        for thread in self.threads:
            thread.start()
        return self

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=60)

    def _run(self) -> None:
        failures = 0
        with httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=30) as client:
            while failures < 3:
                with self.lock:
                    start = next(self.slots)
                body = {"host_id": self.host_id, "start": start, "duration_minutes": 30, "timezone": "Europe/Berlin"}
                try:
                    response = client.post("/v1/bookings", json=body)
                except httpx.HTTPError as exc:
                    failures += 1
                    with self.lock:
                        self.other.append(type(exc).__name__)
                    time.sleep(0.05)
                    continue
                with self.lock:
                    if response.status_code == 201:
                        self.created.append(response.json()["id"])
                    else:
                        self.other.append(str(response.status_code))


def test_sigterm_mid_burst_loses_none_and_double_sends_none(settings: Settings, db: Database, tmp_path: Path) -> None:
    private = RedisServer(tmp_path / "redis").start()
    env = {
        **os.environ,
        **hub_env(
            settings, redis_url=private.url, data_dir=tmp_path / "data", email_backend="file", log_level="warning"
        ),
    }
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("ab")
    server = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    workers: list[WorkerProcess] = []
    try:
        with WebhookReceiver() as receiver:
            wait_for(lambda: _healthy(url), 30, "hub serve to answer /health")
            key, host_id = _tenant(url, db, receiver.url)
            burst = Burst(url, key, host_id).start()
            wait_for(lambda: len(burst.created) >= SIGTERM_AFTER, 60, f"{SIGTERM_AFTER} bookings")
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=60) == 0  # a graceful stop, not death by the signal
            burst.join()
            created = list(burst.created)
            assert len(created) >= SIGTERM_AFTER
            assert burst.other, "the burst never saw the server stop"
            print(f"{len(created)} bookings created; then {sorted(set(burst.other))}")

            # every 201 is stored once, nothing else was stored, and the relay drained on shutdown:
            # Redis holds the fan-out jobs of every created booking before any worker ran
            with db.read() as session:
                stored = list(session.scalars(select(Booking.id).where(Booking.host_id == host_id)))
                outbox = dict(
                    session.execute(
                        select(OutboxMessage.id, OutboxMessage.aggregate_id).where(
                            OutboxMessage.aggregate_id.in_(created)
                        )
                    ).all()
                )
            assert sorted(stored) == sorted(created)
            handed = {
                event[0] for job in queue(NOTIFY, redis.Redis.from_url(private.url)).get_jobs() for event in job.args[0]
            }
            assert sorted(outbox[i] for i in handed if i in outbox) == sorted(created)

            # a worker stopped with SIGTERM while delivering finishes its job; another takes over
            first = WorkerProcess(env, tmp_path / "worker1.log").start()
            workers.append(first)
            wait_for(lambda: len(receiver.requests) >= 1, 60, "the first webhook")
            first.kill(signal.SIGTERM)
            second = WorkerProcess(env, tmp_path / "worker2.log").start()
            workers.append(second)
            wait_for(lambda: len(_delivered(receiver)) >= len(created), 120, "a webhook for every booking")
            time.sleep(2)  # room for a duplicate to show up

            delivered = _delivered(receiver)
            assert sorted(delivered) == sorted(created)  # each booking exactly once
            assert len(set(receiver.ids())) == len(receiver.ids()) == len(created)
    finally:
        for worker in workers:
            worker.kill(signal.SIGTERM)
        if server.poll() is None:
            server.kill()
            server.wait(timeout=30)
        log.close()
        private.stop()


def _tenant(url: str, db: Database, receiver_url: str) -> tuple[str, str]:
    """An organization with an owner key, a host and a webhook endpoint; returns (key, host id)."""
    _organization_id, key = bootstrap_key(db, f"org-{uuid.uuid4().hex[:12]}", role="owner")
    weekdays = ("mon", "tue", "wed", "thu", "fri")
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        host = client.post(
            "/v1/users",
            json={
                "name": "Ada Host",
                "email": f"host-{uuid.uuid4().hex[:6]}@example.com",
                "timezone": "Europe/Berlin",
                "working_hours": [{"weekday": d, "start": "09:00", "end": "17:00"} for d in weekdays],
            },
        )
        assert host.status_code == 201, host.text
        endpoint = client.post("/v1/webhook-endpoints", json={"url": receiver_url, "events": ["booking.created"]})
        assert endpoint.status_code == 201, endpoint.text
    return key, str(host.json()["id"])


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _delivered(receiver: WebhookReceiver) -> list[str]:
    """The booking id of every webhook received."""
    return [json.loads(r["body"])["data"]["id"] for r in list(receiver.requests)]
