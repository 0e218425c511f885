"""Authorized JSON calls to a calendar provider's API: what every provider's ``client.py`` shares.

A connector builds one ``ProviderClient`` subclass in its ``spec.build`` over the connector's one
httpx client (``hub.http.client``, whose transport tests replace), and every part of the
connector (calendars, change feed, push, linking) calls through it. A call:

* takes a bearer token from the connector's token source for the account in ``credentials``;
* on a ``401`` forces one token refresh and sends once more, inside the same attempt; a second
  ``401`` is classified like any other answer (``ReauthRequired`` in ``hub.http.DEFAULT_TABLE``);
* classifies every other non-2xx answer through the provider's ``hub.http.ErrorTable``, with
  the provider's reason read by ``reason()``;
* decodes a 2xx body into the wanted msgspec type (an unreadable one is transient);
* is retried within seconds on transient errors (``hub.http.call_with_retries``).

``pages()`` follows a list call's pages, as the provider's ``next_page()`` says, up to
``MAX_PAGES`` (a guard against a link loop, far above any real calendar).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Final, Protocol, TypeVar, overload

import httpx
import msgspec

from hub import http
from hub.connectors import CredentialStore
from hub.errors import TransientError

T = TypeVar("T")
P = TypeVar("P")

MAX_PAGES: Final = 2_000

Params = Mapping[str, str] | None
NextPage = tuple[str, Params]  # the path or absolute URL of the next page, and its query


class TokenSource(Protocol):
    """What a client needs from a connector's ``auth`` module."""

    def access_token(self, credentials: CredentialStore, *, force_refresh: bool = False) -> str: ...


class MemoryCredentials:
    """A ``CredentialStore`` in memory: for the moment between a code exchange and core storing
    the result (linking reads the account's profile with the fresh token)."""

    def __init__(self, credentials: dict[str, Any]) -> None:
        self._credentials = credentials

    def get(self) -> dict[str, Any]:
        return self._credentials

    def save(self, credentials: dict[str, Any]) -> None:
        self._credentials = credentials


class ProviderClient:
    """Base of ``GoogleClient``, ``MicrosoftClient``...: override ``reason``, ``next_page`` and,
    when the provider limits concurrency, ``slot``."""

    provider = "provider"  # named in messages

    def __init__(
        self,
        tokens: TokenSource,
        *,
        base_url: str,
        http_client: httpx.Client,
        table: http.ErrorTable,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = 4,
    ) -> None:
        self.tokens = tokens
        self.base_url = base_url.rstrip("/")
        self.http = http_client
        self.table = table
        self._sleep = sleep
        self._attempts = attempts

    # --- what a provider says -------------------------------------------------------------------

    def reason(self, response: httpx.Response) -> str | None:
        """The provider's own name for the error in a non-2xx ``response`` (None: none given)."""
        return None

    def next_page(self, page: Any, path_or_url: str, params: Params) -> NextPage | None:
        """Where the page after ``page`` is; None on the last page."""
        return None

    def slot(self, credentials: CredentialStore) -> AbstractContextManager[None]:
        """Held around each request of the account (a provider's concurrency limit)."""
        return nullcontext()

    # --- calls ----------------------------------------------------------------------------------

    def url(self, path_or_url: str) -> str:
        """Absolute URLs (a provider's next/delta links) are used as-is; paths join the base."""
        if path_or_url.startswith(("https://", "http://")):
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    @overload
    def call(
        self,
        credentials: CredentialStore,
        method: str,
        path_or_url: str,
        result: type[T],
        *,
        params: Params = None,
        body: Any = None,
        headers: Iterable[tuple[str, str]] = (),
        overrides: Mapping[int, http.Rule] | None = None,
    ) -> T: ...

    @overload
    def call(
        self,
        credentials: CredentialStore,
        method: str,
        path_or_url: str,
        result: None = None,
        *,
        params: Params = None,
        body: Any = None,
        headers: Iterable[tuple[str, str]] = (),
        overrides: Mapping[int, http.Rule] | None = None,
    ) -> None: ...

    def call(
        self,
        credentials: CredentialStore,
        method: str,
        path_or_url: str,
        result: type[T] | None = None,
        *,
        params: Params = None,
        body: Any = None,
        headers: Iterable[tuple[str, str]] = (),
        overrides: Mapping[int, http.Rule] | None = None,
    ) -> T | None:
        """One call for the account in ``credentials``; the decoded 2xx body (None without
        ``result``), or a pipeline error."""
        content = None if body is None else msgspec.json.encode(body)
        extra = list(headers)

        def attempt() -> T | None:
            response = self._send(credentials, method, self.url(path_or_url), params, content, extra, False)
            if response.status_code == 401:  # revoked or expired early: refresh once, send once more
                response = self._send(credentials, method, self.url(path_or_url), params, content, extra, True)
            if not response.is_success:
                raise self.table.classify(response, reason=self.reason(response), overrides=overrides)
            return None if result is None else self.decode(response, result)

        return http.call_with_retries(attempt, attempts=self._attempts, sleep=self._sleep)

    def get(
        self,
        credentials: CredentialStore,
        path_or_url: str,
        result: type[T],
        *,
        params: Params = None,
        headers: Iterable[tuple[str, str]] = (),
        overrides: Mapping[int, http.Rule] | None = None,
    ) -> T:
        return self.call(credentials, "GET", path_or_url, result, params=params, headers=headers, overrides=overrides)

    def pages(
        self,
        credentials: CredentialStore,
        path_or_url: str,
        page: type[P],
        *,
        params: Params = None,
        headers: Iterable[tuple[str, str]] = (),
        overrides: Mapping[int, http.Rule] | None = None,
        max_pages: int = MAX_PAGES,
    ) -> Iterator[P]:
        """Every page of a list call, following ``next_page`` until it says there is none."""
        request: NextPage | None = (path_or_url, params)
        extra = list(headers)
        for _ in range(max_pages):
            if request is None:
                return
            current = self.get(credentials, request[0], page, params=request[1], headers=extra, overrides=overrides)
            yield current
            request = self.next_page(current, *request)
        if request is not None:
            raise TransientError(
                f"{self.provider} list did not end within {max_pages} pages", code=http.PROVIDER_BAD_RESPONSE
            )

    def decode(self, response: httpx.Response, result: type[T]) -> T:
        """A 2xx body as ``result``; an unreadable one is transient (a proxy or a provider hiccup)."""
        try:
            return msgspec.json.decode(response.content, type=result)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise TransientError(
                f"unreadable answer from {self.provider}: {exc}", code=http.PROVIDER_BAD_RESPONSE
            ) from exc

    def _send(
        self,
        credentials: CredentialStore,
        method: str,
        url: str,
        params: Params,
        content: bytes | None,
        headers: list[tuple[str, str]],
        force_refresh: bool,
    ) -> httpx.Response:
        token = self.tokens.access_token(credentials, force_refresh=force_refresh)
        sent = [("Authorization", f"Bearer {token}"), ("Accept", "application/json"), *headers]
        if content is not None:
            sent.append(("Content-Type", "application/json"))
        with self.slot(credentials):
            try:
                return self.http.request(method, url, params=params, content=content, headers=sent)
            except httpx.HTTPError as exc:
                raise http.from_transport_error(exc) from exc
