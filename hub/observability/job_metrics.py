"""Job metrics shared through Redis, so that ``/metrics`` on the API reports them.

Jobs run in ``hub worker`` processes, which serve no ``/metrics``. After a job a worker adds
what its jobs counted since its last publication (``hub_jobs_total``, client deliveries, email
sends, and the job and attempt duration histograms) to one Redis hash, in one round trip
(``publish()``). Collecting the families costs milliseconds, so after each job
``publish_soon()`` publishes at most once per ``PUBLISH_INTERVAL`` (one second): what a job
counted while a publication was recent goes out at the end of the interval, and a worker that
stops publishes what is left. The API reads the totals at scrape time (``SharedJobMetrics``),
whichever replica is scraped, and leaves out its own (idle) copies of these families. The
totals are counters in the Prometheus sense: they only grow, survive worker restarts, and
start again from zero only when Redis loses its data.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import redis
from prometheus_client import REGISTRY
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

SHARED = {
    "hub_jobs": "counter",
    "hub_job_duration_seconds": "histogram",
    "hub_webhook_deliveries": "counter",
    "hub_webhook_attempt_duration_seconds": "histogram",
    "hub_email_sends": "counter",
    "hub_holds": "counter",  # expiries are counted by a job; the API publishes the rest (exposition)
}
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
VALUES_KEY = "hub:metrics:jobs"
FAMILIES_KEY = "hub:metrics:jobs:families"

PUBLISH_INTERVAL = 1.0  # seconds between the publications after jobs

_lock = threading.Lock()
_published: dict[str, float] = {}  # sample field -> value as of the last publication
_soon: dict[str, Any] = {"last": float("-inf"), "timer": None}  # publish_soon's state


def _sample_names() -> set[str]:
    return {family + suffix for family, kind in SHARED.items() for suffix in SUFFIXES[kind]}


def _field(name: str, labels: dict[str, str]) -> str:
    return json.dumps([name, sorted(labels.items())], separators=(",", ":"))


def publish_soon(connection: redis.Redis) -> None:
    """``publish()`` now if the last one was ``PUBLISH_INTERVAL`` ago, else once that is over."""
    with _lock:
        wait = _soon["last"] + PUBLISH_INTERVAL - time.monotonic()
        if wait > 0:
            if _soon["timer"] is None:
                timer = threading.Timer(wait, _publish_deferred, args=(connection,))
                timer.daemon = True
                _soon["timer"] = timer
                timer.start()
            return
        _soon["last"] = time.monotonic()
    publish(connection)


def _publish_deferred(connection: redis.Redis) -> None:
    with _lock:
        _soon["timer"], _soon["last"] = None, time.monotonic()
    publish(connection)


def publish(connection: redis.Redis) -> None:
    """Add this process's increments since the last publication to the shared totals. If Redis
    does not answer, nothing is lost: the next publication carries them."""
    with _lock:
        current: dict[str, float] = {}
        families: dict[Any, Any] = {}  # family -> [type, help], as JSON
        for metric in REGISTRY.restricted_registry(_sample_names()).collect():
            families[metric.name] = json.dumps([metric.type, metric.documentation])
            for sample in metric.samples:
                current[_field(sample.name, sample.labels)] = sample.value
        changed = {f: v - _published.get(f, 0.0) for f, v in current.items() if v != _published.get(f, 0.0)}
        if not changed:
            return
        try:
            with connection.pipeline(transaction=False) as pipe:
                for field, increment in changed.items():
                    pipe.hincrbyfloat(VALUES_KEY, field, increment)
                pipe.hset(FAMILIES_KEY, mapping=families)
                pipe.execute()
        except redis.RedisError:
            return
        _published.update(current)


class SharedJobMetrics(Collector):
    """The shared totals, as Prometheus families (read at scrape time; none while Redis is away)."""

    def __init__(self, connection: redis.Redis) -> None:
        self.connection = connection

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        try:
            with self.connection.pipeline(transaction=False) as pipe:
                pipe.hgetall(FAMILIES_KEY)
                pipe.hgetall(VALUES_KEY)
                raw_families, raw_values = pipe.execute()
        except (redis.RedisError, OSError):
            return  # hub_metrics_source_up{source="redis"} says so
        metrics: dict[str, Metric] = {}
        for raw_name, raw_meta in raw_families.items():
            name = _text(raw_name)
            kind, documentation = json.loads(raw_meta)
            if SHARED.get(name) == kind:
                metrics[name] = Metric(name, documentation, kind)
        samples = [(*json.loads(raw_field), float(raw_value)) for raw_field, raw_value in raw_values.items()]
        for sample_name, labels, value in sorted(samples, key=_exposition_order):
            family = _family_of(sample_name)
            if family in metrics:
                metrics[family].add_sample(sample_name, dict(labels), value)
        yield from metrics.values()


class WithoutShared(Collector):
    """A registry's metrics minus the shared job families (reported from Redis instead)."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        for metric in self.registry.collect():
            if metric.name not in SHARED:
                yield metric


def _exposition_order(sample: tuple[str, list[list[str]], float]) -> tuple[Any, ...]:
    """Series by series; within a histogram series the buckets in increasing ``le``, then count and sum."""
    name, labels, _value = sample
    family = _family_of(name) or name
    series = [pair for pair in labels if pair[0] != "le"]
    le = next((float(v) for k, v in labels if k == "le"), float("inf"))
    return (family, series, name.endswith(("_count", "_sum")), name, le)


def _family_of(sample_name: str) -> str | None:
    for family, kind in SHARED.items():
        if any(sample_name == family + suffix for suffix in SUFFIXES[kind]):
            return family
    return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
