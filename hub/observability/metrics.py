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

HOLDS = Counter(
    "hub_holds_total",
    "Holds by what became of them: created, converted (into a booking), released, or expired "
    "(counted once, by the tidy job that marks it; shared through Redis like the job metrics).",
    ["outcome"],
)
for _outcome in ("created", "converted", "expired", "released"):
    HOLDS.labels(_outcome)

AVAILABILITY = Counter(
    "hub_availability_answers_total",
    "Availability answers by where their slots came from: memory (a one-user answer remembered "
    "under the user's busy version) or computed.",
    ["source"],
)
for _source in ("memory", "computed"):
    AVAILABILITY.labels(_source)
