"""What one change of shape is, and how a chain of them is applied.

A change names the first revision that has the new shape. A client pinned to an older
revision (``Hub-Version``) has its request bodies upgraded through every newer change, oldest
first, and the response bodies downgraded back, newest first. Handlers only ever see the
current shape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec

Translate = Callable[[Any], Any]


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """One change of request/response shape and its two translations (pure functions on
    decoded JSON; anything they do not recognise they return unchanged)."""

    revision: str  # the first revision with the new shape
    summary: str
    routes: frozenset[tuple[str, str]]  # (METHOD, path template) whose bodies it translates
    upgrade_request: Translate
    downgrade_response: Translate


def pending(changes: Iterable[Change], revision: str, method: str, template: str) -> list[Change]:
    """The changes a client pinned to ``revision`` needs on this route, oldest first."""
    route = (method.upper(), template)
    return sorted((c for c in changes if c.revision > revision and route in c.routes), key=lambda c: c.revision)


def upgrade(body: Any, changes: list[Change]) -> Any:
    """An old request body in the current shape."""
    for change in changes:
        body = change.upgrade_request(body)
    return body


def downgrade(body: Any, changes: list[Change]) -> Any:
    """A current response body in the client's old shape."""
    for change in reversed(changes):
        body = change.downgrade_response(body)
    return body
