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


# What each operation needs, for the ``/v1`` API and the dashboard alike. An API route names
# its operation (``opt=needs("webhooks.enable")``) and the scope guard checks these scopes; a
# dashboard page or action checks the same entry through ``permits``. Every scope listed must
# be held. Dashboard-only operations (jobs, relink emails, ending a key's sessions) are here too.
OPERATION_SCOPES: Final[dict[str, tuple[str, ...]]] = {
    "users.read": ("users:read",),
    "users.write": ("users:write",),
    "bookings.read": ("bookings:read",),
    "bookings.write": ("bookings:write",),
    "availability.read": ("availability:read",),
    "connections.read": ("connections:read",),
    "connections.write": ("connections:write",),
    "connections.sync": ("connections:write",),
    "connections.relink": ("connections:write",),
    "webhooks.read": ("webhooks:read",),
    "webhooks.write": ("webhooks:write",),
    "webhooks.enable": ("webhooks:write",),
    "deliveries.retry": ("webhooks:write",),
    "jobs.read": ("connections:read", "webhooks:read"),
    "jobs.retry": ("connections:write", "webhooks:write"),
    "keys.manage": ("keys:manage",),
    "audit.read": ("audit:read",),
}

# The support role's one power that is not a scope: on the dashboard, a ``support`` key may
# retry failed work (and send relink emails) in the areas it may read. The key needs the read
# scopes listed here instead of the write scopes above. The ``/v1`` API does not grant this.
SUPPORT_DASHBOARD_POWERS: Final[dict[str, tuple[str, ...]]] = {
    "connections.sync": ("connections:read",),
    "connections.relink": ("connections:read",),
    "deliveries.retry": ("webhooks:read",),
    "jobs.retry": ("connections:read", "webhooks:read"),
}


def needs(operation: str) -> dict[str, str]:
    """The route ``opt`` of a ``/v1`` handler that performs ``operation`` (checked by the scope guard)."""
    if operation not in OPERATION_SCOPES:
        raise KeyError(f"unknown operation {operation!r}; add it to OPERATION_SCOPES")
    return {"operation": operation}


def missing_scopes(held: frozenset[str], operation: str) -> tuple[str, ...]:
    """The scopes of ``operation`` that ``held`` lacks (empty: allowed), as the API checks them."""
    return tuple(scope for scope in OPERATION_SCOPES[operation] if scope not in held)


def dashboard_missing_scopes(role: str, held: frozenset[str], operation: str) -> tuple[str, ...]:
    """Like ``missing_scopes``, plus the support role's dashboard power."""
    missing = missing_scopes(held, operation)
    if missing and role == "support" and operation in SUPPORT_DASHBOARD_POWERS:
        return tuple(scope for scope in SUPPORT_DASHBOARD_POWERS[operation] if scope not in held)
    return missing
