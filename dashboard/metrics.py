"""Hub-wide figures from this server process's Prometheus metrics, over the last hour and day.

Counters only grow, so a figure "over the last hour" is the difference between the counters
now and a snapshot taken an hour ago. ``Sampler`` snapshots the watched metrics once a minute
in a background thread and keeps a day of snapshots; before the process has run that long the
window is "since the process started", and ``Figures.span_seconds`` says how long it really is.

Watched: booking outcomes (``hub_bookings_total``), provider webhook intake
(``hub_webhook_notifications_total``), and the request count and latency histogram of the
``/v1`` API from Litestar's Prometheus middleware (``hub_requests_total``,
``hub_request_duration_seconds``).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

import msgspec
from prometheus_client import REGISTRY, CollectorRegistry

Key = tuple[str, ...]
Snapshot = dict[Key, float]

INTERVAL_SECONDS = 60.0
KEEP_SECONDS = 25 * 3600


class Figures(msgspec.Struct, frozen=True):
    span_seconds: float
    bookings: dict[str, float]
    intake: dict[str, dict[str, float]]  # provider -> result -> count
    api_requests: float
    api_errors: float  # 5xx answers
    api_client_errors: float  # 4xx answers
    api_p50_ms: float | None
    api_p95_ms: float | None

    @property
    def booking_success_rate(self) -> float | None:
        attempts = sum(self.bookings.values())
        return self.bookings.get("created", 0.0) / attempts if attempts else None

    @property
    def api_error_rate(self) -> float | None:
        return self.api_errors / self.api_requests if self.api_requests else None


def snapshot(registry: CollectorRegistry = REGISTRY) -> Snapshot:
    """The watched metrics now, summed over the labels the dashboard does not show."""
    found: Snapshot = {}

    def add(key: Key, value: float) -> None:
        found[key] = found.get(key, 0.0) + value

    for family in registry.collect():
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "hub_bookings_total":
                add(("bookings", labels.get("outcome", "")), sample.value)
            elif sample.name == "hub_webhook_notifications_total":
                add(("intake", labels.get("provider", ""), labels.get("result", "")), sample.value)
            elif not str(labels.get("path", "")).startswith("/v1"):
                continue
            elif sample.name == "hub_requests_total":
                add(("api", str(labels.get("status_code", "0"))[:1] + "xx"), sample.value)
            elif sample.name == "hub_request_duration_seconds_bucket":
                add(("api_le", labels.get("le", "+Inf")), sample.value)
    return found


def quantile(buckets: dict[str, float], q: float) -> float | None:
    """The ``q`` quantile (seconds) of a cumulative histogram, interpolated inside its bucket."""
    bounds = sorted((math.inf if le == "+Inf" else float(le), count) for le, count in buckets.items())
    total = bounds[-1][1] if bounds else 0.0
    if total <= 0:
        return None
    target = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in bounds:
        if count >= target:
            if math.isinf(bound):
                return lower_bound  # beyond the largest bucket: its bound is all we know
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (target - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return None


def figures_between(before: Snapshot, now: Snapshot, span_seconds: float) -> Figures:
    delta = {key: max(0.0, value - before.get(key, 0.0)) for key, value in now.items()}
    bookings = {key[1]: v for key, v in delta.items() if key[0] == "bookings"}
    intake: dict[str, dict[str, float]] = {}
    for key, value in delta.items():
        if key[0] == "intake":
            intake.setdefault(key[1], {})[key[2]] = value
    classes = {key[1]: v for key, v in delta.items() if key[0] == "api"}
    buckets = {key[1]: v for key, v in delta.items() if key[0] == "api_le"}
    p50, p95 = quantile(buckets, 0.5), quantile(buckets, 0.95)
    return Figures(
        span_seconds=span_seconds,
        bookings=bookings,
        intake=intake,
        api_requests=sum(classes.values()),
        api_errors=classes.get("5xx", 0.0),
        api_client_errors=classes.get("4xx", 0.0),
        api_p50_ms=None if p50 is None else p50 * 1000,
        api_p95_ms=None if p95 is None else p95 * 1000,
    )


class Sampler:
    """Keeps a day of once-a-minute snapshots; ``figures(window)`` answers from them."""

    def __init__(self, registry: CollectorRegistry = REGISTRY, interval: float = INTERVAL_SECONDS) -> None:
        self.registry = registry
        self.interval = interval
        self.started_at = time.time()
        self._samples: deque[tuple[float, Snapshot]] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        taken = time.time(), snapshot(self.registry)
        with self._lock:
            self._samples.append(taken)
            while self._samples and self._samples[0][0] < taken[0] - KEEP_SECONDS:
                self._samples.popleft()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self.sample()
        self._thread = threading.Thread(target=self._run, name="dashboard-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def figures(self, window_seconds: float) -> Figures:
        """Counts over the last ``window_seconds`` (or since the first snapshot, if later)."""
        now_time, now = time.time(), snapshot(self.registry)
        with self._lock:
            samples = list(self._samples)
        cutoff = now_time - window_seconds
        baseline = next((s for s in reversed(samples) if s[0] <= cutoff), samples[0] if samples else None)
        if baseline is None:
            return figures_between({}, {}, 0.0)
        return figures_between(baseline[1], now, now_time - baseline[0])
