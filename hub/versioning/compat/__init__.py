"""The compatibility layer: old request/response shapes translated at the edge, one small
module per change (see ``changes.CHANGES``), applied by ``CompatMiddleware``."""

from __future__ import annotations

from hub.versioning.compat.change import Change, downgrade, pending, upgrade
from hub.versioning.compat.changes import CHANGES
from hub.versioning.compat.middleware import CompatMiddleware

__all__ = ["CHANGES", "Change", "CompatMiddleware", "downgrade", "pending", "upgrade"]
