"""Time ``free_slots`` over a 60-day window with 10,000 busy blocks.

Run with ``.venv/bin/python bench/engine.py``; it exits non-zero when a median misses the target.
The busy blocks belong to five calendars and are handed over unsorted as integer pairs, the way
the availability service collects them. Two spreads are timed: all blocks inside the 60 days
(the window is saturated, so the cost is merging busy time) and the same number spread over two
years (about a twelfth fall in the window and many free slots are produced).
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.availability import WorkingRange, free_slots

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


def main() -> int:
    rng = random.Random(20261201)
    dense = busy_blocks(rng, WINDOW_START, DAYS)
    sparse = busy_blocks(rng, WINDOW_START - 365 * DAY, 730)
    medians = [measure("all in window", dense), measure("spread over 2 years", sparse)]
    return 0 if max(medians) <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
