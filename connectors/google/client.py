"""Calls to the Google Calendar API: Google's error table and ``nextPageToken`` pagination, over
the shared authorized client (``hub.provider_client``: token, one refresh on 401, in-call
retries, decoding). ``spec.build`` makes one ``GoogleClient`` per connector, over the
connector's one httpx client.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import quote

import httpx
import msgspec

from connectors.google.schemas import ErrorEnvelope
from hub import http
from hub.connectors import ResyncRequired
from hub.errors import PermanentError, TransientError
from hub.provider_client import NextPage, Params, ProviderClient

# quotaExceeded is a usage limit (G-ERR: "not a short-term limit"), not a per-minute rate limit:
# retrying within seconds cannot help, so the job is asked to come back in ten minutes at least.
QUOTA_EXCEEDED_RETRY_AFTER: Final = 600.0

# (status, error.errors[0].reason) -> (what the pipeline does, Hub's code), over
# hub.http.DEFAULT_TABLE (401 reauth, 404/410 not found, 429 rate limited, 5xx unavailable...).
# A 403 is a rate limit or a permission problem: only the reason tells.
TABLE: Final = http.DEFAULT_TABLE.over(
    {
        (403, "rateLimitExceeded"): (TransientError, http.RATE_LIMITED),
        (403, "userRateLimitExceeded"): (TransientError, http.RATE_LIMITED),
        (403, "quotaExceeded"): (TransientError, http.QUOTA_EXCEEDED),
        (410, "fullSyncRequired"): (ResyncRequired, http.RESYNC_REQUIRED),
    },
    retry_after={http.QUOTA_EXCEEDED: QUOTA_EXCEEDED_RETRY_AFTER},
)

# Per-call rules: any 410 on a sync-token request means "start over", with or without
# fullSyncRequired; a 404 on an insert means the target calendar is gone.
RESYNC_ON_410: Final[dict[int, http.Rule]] = {410: (ResyncRequired, http.RESYNC_REQUIRED)}
CALENDAR_GONE_ON_404: Final[dict[int, http.Rule]] = {404: (PermanentError, "calendar_not_found")}


def path(*segments: str) -> str:
    """A URL path from raw segments (calendar ids contain ``@`` and ``#``)."""
    return "/".join(quote(segment, safe="") for segment in segments)


def error_reason(response: httpx.Response) -> str | None:
    """``error.errors[0].reason`` of a Google error body, if it has one."""
    try:
        envelope = msgspec.json.decode(response.content, type=ErrorEnvelope)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return envelope.error.errors[0].reason if envelope.error.errors else None


class GoogleClient(ProviderClient):
    provider = "Google"

    def reason(self, response: httpx.Response) -> str | None:
        return error_reason(response)

    def next_page(self, page: Any, path_or_url: str, params: Params) -> NextPage | None:
        """The same request with ``pageToken``, until Google omits ``nextPageToken``."""
        token = getattr(page, "next_page_token", None)
        return (path_or_url, {**(params or {}), "pageToken": token}) if token else None
