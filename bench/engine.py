"""Time ``free_slots`` over a 60-day window with 10,000 busy blocks, and team availability
(``free_intervals`` per user + ``team_slots``) for 20 users over 62 days with 10,000 busy blocks.

Run with ``.venv/bin/python bench/engine.py``; it exits non-zero when a median misses its target.
The busy blocks belong to five calendars and are handed over unsorted as integer pairs, the way
the availability service collects them. Two spreads are timed: all blocks inside the 60 days
(the window is saturated, so the cost is merging busy time) and the same number spread over two
years (about a twelfth fall in the window and many free slots are produced).

The team figure is what the service does for ``user_ids`` with 20 users: each user works
09:00-17:00 on weekdays in one of three zones (Berlin, New York, Tokyo, in turn), has 500 busy
blocks of 15 minutes to 3 hours inside the 62 days, a 5-minute buffer; 30-minute slots stepping
by 30 minutes from the window start, timed with ``required`` all, 10 and 1 (the last offers the
most slots and lists the most users per slot).
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.availability import WorkingRange, free_intervals, free_slots, team_slots

DAY = 86_400
DAYS = 60
BLOCKS = 10_000
CALENDARS = 5
WARM_UP = 5
RUNS = 50
TARGET_MS = 5.0
WINDOW_START = 1_796_083_200  # 2026-12-01T00:00:00Z, a Tuesday
HOURS = [WorkingRange(weekday=day, start=9 * 60, end=17 * 60) for day in range(5)]
ZONE = ZoneInfo("Europe/Berlin")
TEAM_USERS = 20
TEAM_DAYS = 62
TEAM_TARGET_MS = 20.0
TEAM_ZONES = [ZoneInfo(name) for name in ("Europe/Berlin", "America/New_York", "Asia/Tokyo")]


def busy_blocks(rng: random.Random, first: int, span_days: int) -> list[tuple[int, int]]:
    """Busy blocks of 15 minutes to 3 hours on five-minute boundaries, calendars interleaved."""
    blocks: list[tuple[int, int]] = []
    for _ in range(CALENDARS):
        for _ in range(BLOCKS // CALENDARS):
            start = first + rng.randrange(0, span_days * DAY, 300)
            blocks.append((start, start + rng.randrange(900, 3 * 3600 + 1, 300)))
    rng.shuffle(blocks)
    return blocks


def measure(label: str, busy: list[tuple[int, int]]) -> float:
    """Print and return the median milliseconds of one ``free_slots`` call over the window."""

    def run() -> list[tuple[int, int]]:
        return free_slots(
            hours=HOURS,
            tz=ZONE,
            start=WINDOW_START,
            end=WINDOW_START + DAYS * DAY,
            busy=busy,
            duration=1800,
            step=1800,
            buffer=300,
        )

    for _ in range(WARM_UP):
        slots = run()
    timings: list[float] = []
    for _ in range(RUNS):
        began = time.perf_counter()
        run()
        timings.append((time.perf_counter() - began) * 1000)
    median, best = statistics.median(timings), min(timings)
    print(
        f"engine {DAYS}d x {len(busy)} busy ({label}): median {median:.1f} ms, best {best:.1f} ms "
        f"(target <= {TARGET_MS:g} ms; {len(slots)} free slots)"
    )
    return median


def _median_ms(run: Callable[[], object]) -> tuple[float, float]:
    for _ in range(WARM_UP):
        run()
    timings: list[float] = []
    for _ in range(RUNS):
        began = time.perf_counter()
        run()
        timings.append((time.perf_counter() - began) * 1000)
    return statistics.median(timings), min(timings)


def measure_team(rng: random.Random, required: int) -> float:
    """Print and return the median milliseconds of one team availability computation."""
    end = WINDOW_START + TEAM_DAYS * DAY
    team_busy: list[list[tuple[int, int]]] = []
    for _ in range(TEAM_USERS):
        blocks = []
        for _ in range(BLOCKS // TEAM_USERS):
            start = WINDOW_START + rng.randrange(0, TEAM_DAYS * DAY, 300)
            blocks.append((start, start + rng.randrange(900, 3 * 3600 + 1, 300)))
        team_busy.append(blocks)

    def run() -> list[tuple[int, int, tuple[int, ...]]]:
        free = [
            free_intervals(
                hours=HOURS,
                tz=TEAM_ZONES[member % len(TEAM_ZONES)],
                start=WINDOW_START,
                end=end,
                busy=busy,
                buffer=300,
                min_length=1800,
            )
            for member, busy in enumerate(team_busy)
        ]
        return team_slots(free, start=WINDOW_START, end=end, duration=1800, step=1800, required=required)

    slots = run()
    median, best = _median_ms(run)
    print(
        f"team {TEAM_USERS} users x {TEAM_DAYS}d x {BLOCKS} busy (required={required}): median {median:.1f} ms, "
        f"best {best:.1f} ms (target <= {TEAM_TARGET_MS:g} ms; {len(slots)} slots)"
    )
    return median


def main() -> int:
    rng = random.Random(20261201)
    dense = busy_blocks(rng, WINDOW_START, DAYS)
    sparse = busy_blocks(rng, WINDOW_START - 365 * DAY, 730)
    medians = [measure("all in window", dense), measure("spread over 2 years", sparse)]
    team = [measure_team(random.Random(20261202), required) for required in (TEAM_USERS, 10, 1)]
    return 0 if max(medians) <= TARGET_MS and max(team) <= TEAM_TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
