"""Revision 2026-11-01 changed two booking fields; this module keeps 2026-06-01 clients working.

=========================  ======================================  ===================================
shape                      2026-06-01 (early access)               2026-11-01 (the v1 contract)
=========================  ======================================  ===================================
request: who attends       ``"guests": ["a@example.com"]``         ``"attendees": [{"email": ...}]``
request: how long          ``"length_minutes": 30``                ``"duration_minutes": 30``
response: who attends      ``"guests": ["a@example.com"]``         ``"attendees": [{"email", "name"}]``
response: as requested     ``"requested": {"length_minutes"}``     ``"requested": {"duration_minutes"}``
errors: ``errors[].field`` ``guests[0]``, ``length_minutes``        ``attendees[0].email``, ...
=========================  ======================================  ===================================

When an old request also carries a new field, the new field wins.
"""

from __future__ import annotations

import re
from typing import Any

from hub.versioning.compat.change import Change

REVISION = "2026-11-01"

ROUTES = frozenset(
    {
        ("POST", "/v1/bookings"),
        ("GET", "/v1/bookings"),
        ("GET", "/v1/bookings/{booking_id}"),
        ("POST", "/v1/bookings/{booking_id}/cancel"),
    }
)

_RENAMED_FIELDS = (
    (re.compile(r"^attendees\[(\d+)\](\.email)?$"), r"guests[\1]"),
    (re.compile(r"^attendees$"), "guests"),
    (re.compile(r"^duration_minutes$"), "length_minutes"),
)


def upgrade_request(body: Any) -> Any:
    """``guests`` -> ``attendees`` (each address becomes ``{"email": ...}``) and
    ``length_minutes`` -> ``duration_minutes``."""
    if not isinstance(body, dict):
        return body
    body = dict(body)
    if "guests" in body:
        guests = body.pop("guests")
        if "attendees" not in body:
            body["attendees"] = (
                [{"email": g} if isinstance(g, str) else g for g in guests] if isinstance(guests, list) else guests
            )
    if "length_minutes" in body:
        length = body.pop("length_minutes")
        body.setdefault("duration_minutes", length)
    return body


def downgrade_response(body: Any) -> Any:
    """A booking, a list of bookings, or a problem body, in the 2026-06-01 shape."""
    if not isinstance(body, dict):
        return body
    if body.get("object") == "booking":
        return _booking(body)
    if body.get("object") == "list" and isinstance(body.get("data"), list):
        return {**body, "data": [_booking(item) if _is_booking(item) else item for item in body["data"]]}
    if isinstance(body.get("errors"), list):
        return _problem(body)
    return body


def _is_booking(item: Any) -> bool:
    return isinstance(item, dict) and item.get("object") == "booking"


def _booking(booking: dict[str, Any]) -> dict[str, Any]:
    old = dict(booking)
    if isinstance(old.get("attendees"), list):
        attendees = old.pop("attendees")
        old["guests"] = [a["email"] for a in attendees if isinstance(a, dict) and "email" in a]
    requested = old.get("requested")
    if isinstance(requested, dict) and "duration_minutes" in requested:
        requested = dict(requested)
        requested["length_minutes"] = requested.pop("duration_minutes")
        old["requested"] = requested
    return old


def _problem(problem: dict[str, Any]) -> dict[str, Any]:
    """Validation errors name the fields the client sent, in ``errors`` and in ``detail``."""
    errors = [_error(item) for item in problem["errors"]]
    detail = problem.get("detail")
    for before, after in zip(problem["errors"], errors, strict=True):
        if isinstance(detail, str) and before is not after:
            detail = detail.replace(f"{before['field']}: ", f"{after['field']}: ")
    return {**problem, "errors": errors, "detail": detail} if "detail" in problem else {**problem, "errors": errors}


def _error(item: Any) -> Any:
    if not isinstance(item, dict) or not isinstance(item.get("field"), str):
        return item
    for pattern, replacement in _RENAMED_FIELDS:
        renamed, count = pattern.subn(replacement, item["field"])
        if count:
            return {**item, "field": renamed}
    return item


CHANGE = Change(
    revision=REVISION,
    summary="Bookings: `guests` became `attendees` objects; `length_minutes` became `duration_minutes`.",
    routes=ROUTES,
    upgrade_request=upgrade_request,
    downgrade_response=downgrade_response,
)
