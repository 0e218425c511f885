"""API versioning: the version registry and ``GET /versions``, deprecation headers for routes
marked in one table, and the compatibility layer that keeps older revisions' shapes working.

See docs/migration-guide.md for the policy and docs/api/versions.md for the endpoint.
"""

from __future__ import annotations

from hub.versioning.plugin import VersioningPlugin
from hub.versioning.registry import DEPRECATIONS, VERSION_HEADER, VERSIONS, ApiVersion, Deprecation, Revision

__all__ = [
    "DEPRECATIONS",
    "VERSIONS",
    "VERSION_HEADER",
    "ApiVersion",
    "Deprecation",
    "Revision",
    "VersioningPlugin",
]
