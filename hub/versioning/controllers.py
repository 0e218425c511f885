"""``GET /versions``: the API versions, their revisions, status and sunset dates. No API key
needed: a client checks it before it has one, and monitoring can watch it."""

from __future__ import annotations

from litestar import get
from litestar.datastructures import CacheControlHeader

from hub.versioning.registry import VERSIONS
from hub.versioning.schemas import VersionList, version_out


@get(
    "/versions",
    tags=["Service"],
    summary="API versions",
    description="Every major version with its status and sunset date, and the dated revisions "
    "a client can pin with the `Hub-Version` header.",
    cache_control=CacheControlHeader(public=True, max_age=3600),
    sync_to_thread=False,
)
def list_versions() -> VersionList:
    return VersionList(data=[version_out(v) for v in VERSIONS])
