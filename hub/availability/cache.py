"""Remembered availability answers: the slots of a one-user answer, kept for the same query
while nothing they were computed from has changed.

A booking page asks for the same user's week again and again, and every write of that user's
busy time (a booking, a cancellation, a hold, a sync of a linked calendar, a calendar or
connection change) raises ``users.busy_version`` in the database, in the writing transaction,
from any process (triggers, migration 0013). An entry's key holds the version the answer was
computed under, with everything else the slots depend on: the user's zone, hours, buffer and
notice, the window, duration, step and view zone. A changed profile or version is a new key; the
old entry is never asked for again and falls out of the bounded LRU.

What time alone changes is bounded by ``until``: the first live hold's expiry (it stops blocking
with no write), and the moment the user's notice passes the first slot (slots leave from the
front as time goes on; none come back). A lookup at a time before the entry was computed (a
clock set back) misses too.

The version must be read before the busy time (``load_profiles`` comes first): an answer then
never holds data older than its version, only newer, which a later version replaces.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from datetime import datetime
from typing import Any

# Bounded by the slots kept, not the answers: an answer holds up to 17,856 slots (62 days of
# 5-minute steps), a week of 30-minute ones a few hundred. At up to 400 bytes a slot (its own
# instants and renderings where the shared ones run out), some 40 MB per process at most.
SLOTS_KEPT = 100_000


class SlotCache:
    """A bounded LRU of slot lists, each valid over ``[computed_at, until)`` (epoch seconds).
    Thread-safe: PostgreSQL handlers run in threads."""

    def __init__(self, slots: int = SLOTS_KEPT) -> None:
        self._entries: OrderedDict[Hashable, tuple[list[Any], float, float]] = OrderedDict()
        self._budget = slots
        self._kept = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, now: datetime) -> list[Any] | None:
        moment = now.timestamp()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or not entry[1] <= moment < entry[2]:
                return None
            self._entries.move_to_end(key)
        return list(entry[0])

    def put(self, key: Hashable, slots: list[Any], *, computed_at: datetime, until: float) -> None:
        if len(slots) > self._budget // 10:  # not kept: it would push out ten others
            return
        with self._lock:
            replaced = self._entries.pop(key, None)
            if replaced is not None:
                self._kept -= len(replaced[0])
            self._entries[key] = (list(slots), computed_at.timestamp(), until)
            self._kept += len(slots)
            while self._kept > self._budget:
                _, (dropped, _, _) = self._entries.popitem(last=False)
                self._kept -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._kept = 0


SLOTS = SlotCache()
