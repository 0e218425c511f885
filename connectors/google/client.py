"""Authorized calls to the Google Calendar API: the access token, Google's error table, the
shared in-call retries (``hub.http.call_with_retries``) and ``nextPageToken`` pagination.

One ``GoogleClient`` serves one linked account for one unit of work; use it as a context
manager so its HTTP connections are closed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import httpx
import msgspec

from connectors.google.schemas import CalendarListPage, ErrorEnvelope, EventsPage
from hub import http
from hub.connectors import CredentialStore, ResyncRequired
from hub.errors import PermanentError, PipelineError, ReauthRequired, SkippableError, TransientError
from hub.settings import Settings

T = TypeVar("T")
Page = TypeVar("Page", EventsPage, CalendarListPage)
Rule = tuple[type[PipelineError], str]

# quotaExceeded is a usage limit (G-ERR: "not a short-term limit"), not a per-minute rate limit:
# retrying within seconds cannot help, so the job is asked to come back in ten minutes at least.
QUOTA_EXCEEDED_RETRY_AFTER = 600.0

# (status, error.errors[0].reason) -> (what the pipeline does, the code people see). A reason of
# None matches any reason for that status; statuses not listed fall back to hub.http.DEFAULT_TABLE
# (5xx transient, ...). A 403 is a rate limit or a permission problem: only the reason tells.
TABLE: Mapping[tuple[int, str | None], Rule] = {
    (401, None): (ReauthRequired, "unauthorized"),  # still 401 after one refresh and retry
    (403, "rateLimitExceeded"): (TransientError, "rate_limited"),
    (403, "userRateLimitExceeded"): (TransientError, "rate_limited"),
    (403, "quotaExceeded"): (TransientError, "quota_exceeded"),
    (403, None): (PermanentError, "forbidden"),
    (404, None): (SkippableError, "not_found"),
    (409, "duplicate"): (PermanentError, "duplicate"),
    (410, "fullSyncRequired"): (ResyncRequired, "resync_required"),
    (410, None): (SkippableError, "gone"),  # e.g. "deleted": the event is already gone
    (429, None): (TransientError, "rate_limited"),
}
DEFAULT_RETRY_AFTER: Mapping[str, float] = {"quotaExceeded": QUOTA_EXCEEDED_RETRY_AFTER}


class TokenSource(Protocol):
    """What the client needs from ``auth.GoogleOAuth``."""

    def access_token(self, credentials: CredentialStore) -> str: ...
    def refresh(self, credentials: CredentialStore) -> str: ...


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


def classify_response(response: httpx.Response, overrides: Mapping[int, Rule] | None = None) -> PipelineError:
    """The pipeline error for a non-2xx answer: per-call ``overrides`` by status, then ``TABLE``."""
    status = response.status_code
    reason = error_reason(response)
    rule = (overrides or {}).get(status) or TABLE.get((status, reason)) or TABLE.get((status, None))
    if rule is None:
        return http.classify(response)
    kind, code = rule
    request = response.request
    message = f"HTTP {status} {reason or ''} from {request.method} {request.url.copy_with(query=None)}"
    if kind is TransientError:
        retry_after = http.retry_after_seconds(response.headers.get("retry-after"))
        if retry_after is None and reason is not None:
            retry_after = DEFAULT_RETRY_AFTER.get(reason)
        return TransientError(message, code=code, retry_after=retry_after)
    return kind(message, code=code)


class GoogleClient:
    def __init__(
        self,
        settings: Settings,
        tokens: TokenSource,
        credentials: CredentialStore,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._base = settings.google_api_url.rstrip("/")
        self._tokens = tokens
        self._credentials = credentials
        self._sleep = sleep
        self._http = http.client()

    def __enter__(self) -> GoogleClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._http.close()

    def call(
        self,
        method: str,
        url_path: str,
        result: type[T] | None = None,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        overrides: Mapping[int, Rule] | None = None,
    ) -> T | None:
        """One API call, retried within seconds on transient errors; the decoded 2xx body."""

        def attempt() -> T | None:
            response = self._send(method, url_path, params, body, overrides)
            if result is None:
                return None
            try:
                return msgspec.json.decode(response.content, type=result)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise TransientError(f"unreadable answer from Google: {exc}", code="bad_response") from exc

        return http.call_with_retries(attempt, sleep=self._sleep)

    def get(
        self,
        url_path: str,
        result: type[T],
        *,
        params: Mapping[str, str] | None = None,
        overrides: Mapping[int, Rule] | None = None,
    ) -> T:
        value = self.call("GET", url_path, result, params=params, overrides=overrides)
        assert value is not None
        return value

    def pages(
        self, url_path: str, page: type[Page], *, params: Mapping[str, str], overrides: Mapping[int, Rule] | None = None
    ) -> Iterator[Page]:
        """Every page of a list call, following ``nextPageToken`` until Google omits it."""
        query = dict(params)
        while True:
            current = self.get(url_path, page, params=query, overrides=overrides)
            yield current
            if not current.next_page_token:
                return
            query["pageToken"] = current.next_page_token

    def _send(
        self,
        method: str,
        url_path: str,
        params: Mapping[str, str] | None,
        body: Any,
        overrides: Mapping[int, Rule] | None,
    ) -> httpx.Response:
        content = None if body is None else msgspec.json.encode(body)
        response = self._once(method, url_path, params, content, self._tokens.access_token(self._credentials))
        if response.status_code == 401:
            # The token was revoked or expired early: refresh once and try once more.
            response = self._once(method, url_path, params, content, self._tokens.refresh(self._credentials))
        if response.is_success:
            return response
        raise classify_response(response, overrides)

    def _once(
        self, method: str, url_path: str, params: Mapping[str, str] | None, content: bytes | None, token: str
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            return self._http.request(
                method, f"{self._base}/{url_path}", params=params, content=content, headers=headers
            )
        except httpx.HTTPError as exc:
            raise http.from_transport_error(exc) from exc


# How the calendar, feed and push parts open a client for one account (``spec.build`` binds it).
ClientFactory = Callable[[CredentialStore], GoogleClient]
