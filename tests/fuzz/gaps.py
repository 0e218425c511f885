"""Known gaps between what Hub answers and what its OpenAPI document says, found by the fuzz
run. Each names the check it trips, the answers it covers, and why. The fuzz run tolerates
exactly these answers; each entry must come with a test that reproduces it as a strict xfail,
so fixing the gap fails that test until the entry (and its xfail) is removed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class KnownGap:
    check: str  # the schemathesis check that fails on it
    status: int
    code: str  # the problem+json ``code`` of the answer
    reason: str
    operations: frozenset[str] | None = None  # "METHOD /path"; None for every operation

    def covers(self, check: str, operation: str, status: int, body: Any) -> bool:
        return (
            check == self.check
            and status == self.status
            and isinstance(body, dict)
            and body.get("code") == self.code
            and (self.operations is None or operation in self.operations)
        )


KNOWN_GAPS: tuple[KnownGap, ...] = ()  # none open; add one with a reproducer in a test when found


def tolerated(check: str, operation: str, status: int, body: Any) -> KnownGap | None:
    """The known gap covering this answer for this check, if any."""
    return next((gap for gap in KNOWN_GAPS if gap.covers(check, operation, status, body)), None)
