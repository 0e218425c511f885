"""Roles and scopes: what an API key may do.

A key has one role and a set of scopes. The role decides the ceiling (``ROLE_SCOPES``) and a
few powers that are not scopes (an ``owner`` or ``member`` may book outside working hours).
A key can only create keys whose scopes are a subset of its own and whose role is not above
its own.
"""

from __future__ import annotations

from typing import Final

ALL_SCOPES: Final = (
    "users:read",
    "users:write",
    "bookings:read",
    "bookings:write",
    "availability:read",
    "connections:read",
    "connections:write",
    "webhooks:read",
    "webhooks:write",
    "keys:manage",
    "audit:read",
)

_READ: Final = tuple(s for s in ALL_SCOPES if s.endswith(":read"))

ROLE_SCOPES: Final[dict[str, frozenset[str]]] = {
    "owner": frozenset(ALL_SCOPES),
    "member": frozenset(ALL_SCOPES) - {"keys:manage", "audit:read"},
    "support": frozenset(_READ),
    "app": frozenset(ALL_SCOPES) - {"keys:manage", "audit:read"},
}

ROLES: Final = tuple(ROLE_SCOPES)

_RANK: Final = {"owner": 3, "member": 2, "support": 1, "app": 1}


def may_ignore_availability(role: str) -> bool:
    return role in ("owner", "member")


def default_scopes(role: str) -> frozenset[str]:
    """Scopes a new key of ``role`` gets when none are asked for (``app`` keys must ask)."""
    return frozenset() if role == "app" else ROLE_SCOPES[role]


def may_grant_role(granter_role: str, role: str) -> bool:
    return _RANK[role] <= _RANK[granter_role] and (role != "owner" or granter_role == "owner")
