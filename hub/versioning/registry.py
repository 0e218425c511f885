"""The one place that says which API versions exist and what is deprecated.

* ``VERSIONS``: the major versions (``/v1`` in the URL) with their status and sunset date, and
  for each its dated revisions, which a client pins with the ``Hub-Version`` request header.
  The compatibility layer (``hub.versioning.compat``) keeps older revisions working by
  translating their shapes at the edge.
* ``DEPRECATIONS``: routes that are going away, keyed by ``(method, path template)``; responses
  of those routes carry the ``Deprecation``, ``Sunset`` and ``Link`` headers and the OpenAPI
  document marks the operation deprecated.

docs/migration-guide.md explains the policy these tables follow.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Literal

import msgspec

DOCS_BASE = "https://hub.example.com/docs"
MIGRATION_GUIDE = f"{DOCS_BASE}/migration-guide.md"
VERSIONS_DOC = f"{DOCS_BASE}/api/versions.md"

VERSION_HEADER = "Hub-Version"
"""The request header that pins a client to a dated revision of the major version."""

MIN_DEPRECATION_DAYS = 180
"""A route or revision keeps working for at least this long after it is deprecated."""

MIN_MAJOR_DEPRECATION_DAYS = 365
"""A major version keeps working for at least this long after its successor is released."""


class Deprecation(msgspec.Struct, frozen=True, kw_only=True):
    """When something was deprecated, when it stops working, and what to use instead."""

    deprecated_at: date
    sunset: date
    replacement: str
    guide: str = MIGRATION_GUIDE


class Revision(msgspec.Struct, frozen=True, kw_only=True):
    """A dated revision of a major version's request and response shapes."""

    name: str  # the ISO date a client sends in ``Hub-Version``
    released: date
    summary: str
    deprecation: Deprecation | None = None


class ApiVersion(msgspec.Struct, frozen=True, kw_only=True):
    """A major version of the API: the ``/v1`` in the URL."""

    version: str
    status: Literal["current", "deprecated"]
    released: date
    revisions: tuple[Revision, ...]  # oldest first; the last one is current
    sunset: date | None = None
    docs: str = VERSIONS_DOC

    @property
    def current_revision(self) -> Revision:
        return self.revisions[-1]


EARLY_ACCESS = Revision(
    name="2026-06-01",
    released=date(2026, 6, 1),
    summary="Early access: bookings take `guests` (e-mail addresses) and `length_minutes`.",
    deprecation=Deprecation(
        deprecated_at=date(2026, 11, 1),
        sunset=date(2027, 5, 1),
        replacement="Hub-Version 2026-11-01: `attendees` objects and `duration_minutes`",
        guide=f"{MIGRATION_GUIDE}#hub-version-2026-06-01",
    ),
)

GENERAL_AVAILABILITY = Revision(
    name="2026-11-01",
    released=date(2026, 11, 1),
    summary="The v1 contract: `attendees` objects and `duration_minutes` on bookings.",
)

VERSIONS: tuple[ApiVersion, ...] = (
    ApiVersion(
        version="v1",
        status="current",
        released=date(2026, 11, 1),
        revisions=(EARLY_ACCESS, GENERAL_AVAILABILITY),
    ),
)

DEPRECATIONS: Mapping[tuple[str, str], Deprecation] = {
    # ("POST", "/v1/things/{thing_id}/old-action"): Deprecation(
    #     deprecated_at=date(2027, 1, 1), sunset=date(2027, 7, 1), replacement="POST /v1/things/{thing_id}/action"
    # ),
}
"""Deprecated routes: ``(METHOD, path template as in the OpenAPI document)`` -> ``Deprecation``."""


def revision_status(version: ApiVersion, revision: Revision) -> Literal["current", "supported", "deprecated"]:
    """``current`` for the newest revision, ``deprecated`` once announced, else ``supported``."""
    if revision.deprecation is not None:
        return "deprecated"
    return "current" if revision is version.current_revision else "supported"


def find_version(name: str, versions: tuple[ApiVersion, ...] = VERSIONS) -> ApiVersion:
    """The major version called ``name`` (``"v1"``); a KeyError names an unknown one."""
    for version in versions:
        if version.version == name:
            return version
    raise KeyError(name)


def find_revision(version: ApiVersion, name: str) -> Revision | None:
    """The revision of ``version`` called ``name``, or None when there is no such revision."""
    return next((r for r in version.revisions if r.name == name), None)
