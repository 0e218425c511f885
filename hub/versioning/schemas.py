"""Wire shapes of ``GET /versions``."""

from __future__ import annotations

from datetime import date
from typing import Literal

import msgspec

from hub.versioning.registry import VERSION_HEADER, ApiVersion, Revision, revision_status


class RevisionOut(msgspec.Struct):
    version: str  # the value of the Hub-Version header
    status: Literal["current", "supported", "deprecated"]
    released: date
    deprecated_at: date | None
    sunset: date | None
    summary: str
    docs: str
    object: str = "api_revision"


class VersionOut(msgspec.Struct):
    version: str
    status: Literal["current", "deprecated"]
    released: date
    sunset: date | None
    docs: str
    current_revision: str
    revision_header: str
    revisions: list[RevisionOut]
    object: str = "api_version"


class VersionList(msgspec.Struct):
    data: list[VersionOut]
    next_cursor: str | None = None
    object: str = "list"


def revision_out(version: ApiVersion, revision: Revision) -> RevisionOut:
    deprecation = revision.deprecation
    return RevisionOut(
        version=revision.name,
        status=revision_status(version, revision),
        released=revision.released,
        deprecated_at=deprecation.deprecated_at if deprecation else None,
        sunset=deprecation.sunset if deprecation else None,
        summary=revision.summary,
        docs=deprecation.guide if deprecation else version.docs,
    )


def version_out(version: ApiVersion) -> VersionOut:
    return VersionOut(
        version=version.version,
        status=version.status,
        released=version.released,
        sunset=version.sunset,
        docs=version.docs,
        current_revision=version.current_revision.name,
        revision_header=VERSION_HEADER,
        revisions=[revision_out(version, r) for r in version.revisions],
    )
