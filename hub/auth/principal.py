"""The authenticated caller of a request."""

from __future__ import annotations

import msgspec


class Principal(msgspec.Struct, frozen=True):
    key_id: str
    organization_id: str
    role: str
    scopes: frozenset[str]

    def has(self, scope: str) -> bool:
        return scope in self.scopes
