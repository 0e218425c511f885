"""Hub's own Prometheus metrics (request latency comes from Litestar's Prometheus plugin)."""

from __future__ import annotations

from prometheus_client import Counter

BOOKINGS = Counter(
    "hub_bookings_total",
    "Booking create attempts by outcome: created, conflict (409 booking_conflict), rejected "
    "(any other 4xx) or error (5xx).",
    ["outcome"],
)
for _outcome in ("created", "conflict", "rejected", "error"):
    BOOKINGS.labels(_outcome)
