"""python-caldav's HTTP, sent through Hub's egress guard.

python-caldav speaks HTTP through a niquests ``Session``; ``EgressAdapter`` is the one adapter
mounted on it, so every request the library makes (discovery, PROPFIND, REPORT, PUT, DELETE and
each redirect it follows) leaves through an httpx client of Hub's:

* in production, ``hub.egress``: each destination (scheme, host, port) is checked once per
  session and then reached only at the addresses that were checked (pinned, no second DNS
  answer); a destination on a private or loopback address is refused unless the operator
  allows it (``HUB_CALDAV_ALLOW_PRIVATE``), and plain ``http://`` is refused unless private
  addresses are allowed too;
* in tests, one given httpx transport (the contract suite's respx router).

The session ignores the environment (no proxies, no ``.netrc``), so nothing but the adapter
decides where a request goes or which credentials it carries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import niquests
from niquests.adapters import BaseAdapter
from niquests.structures import CaseInsensitiveDict

from hub import egress, http

DestinationClient = Callable[[str], httpx.Client]


class Refused(niquests.exceptions.ConnectionError):
    """The egress guard refused a destination; ``error`` says why."""

    def __init__(self, error: egress.UrlError) -> None:
        super().__init__(str(error))
        self.error = error


class Unreachable(niquests.exceptions.ConnectionError):
    """The server could not be reached (DNS, connect, TLS, timeout)."""

    def __init__(self, error: httpx.HTTPError) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error


def guarded(*, allow_private: bool) -> DestinationClient:
    """Clients per destination through ``hub.egress`` (checked, then pinned)."""

    def open_client(url: str) -> httpx.Client:
        if not allow_private and httpx.URL(url).scheme != "https":
            raise egress.UrlError("must be an https:// URL")
        destination = egress.check(url, allow_private=allow_private)
        return egress.client(destination, follow_redirects=False)

    return open_client


def fixed(transport: httpx.BaseTransport) -> DestinationClient:
    """One client over ``transport`` for every destination (tests)."""
    return lambda _url: http.client(transport=transport, follow_redirects=False)


class _Body:
    """What niquests reads of a response's ``raw`` once the body is in memory: no cookies
    (a session of Hub's keeps none), nothing to release."""

    _original_response = None

    def close(self) -> None:
        return None

    def release_conn(self) -> None:
        return None


class EgressAdapter(BaseAdapter):
    """A niquests adapter that hands each prepared request to an httpx client."""

    def __init__(self, open_client: DestinationClient) -> None:
        super().__init__()
        self._open = open_client
        self._clients: dict[tuple[str, str, int | None], httpx.Client] = {}

    def _client(self, url: httpx.URL) -> httpx.Client:
        key = (url.scheme, url.host, url.port)
        found = self._clients.get(key)
        if found is None:
            try:
                found = self._clients[key] = self._open(str(url))
            except egress.UrlError as exc:
                raise Refused(exc) from exc
        return found

    def send(self, request: Any, *args: Any, **kwargs: Any) -> niquests.Response:
        url = httpx.URL(str(request.url))
        client = self._client(url)
        body = request.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        try:
            answer = client.request(request.method or "GET", url, headers=dict(request.headers), content=body)
        except httpx.HTTPError as exc:
            raise Unreachable(exc) from exc
        response = niquests.Response()
        response.status_code = answer.status_code
        response.headers = CaseInsensitiveDict(answer.headers.multi_items())
        response._content = answer.content
        response.raw = _Body()  # type: ignore[assignment,unused-ignore]
        response.reason = answer.reason_phrase
        response.url = str(request.url)
        response.encoding = answer.encoding
        response.request = request
        response.connection = self  # type: ignore[attr-defined]  # digest auth re-sends through it
        return response

    def close(self) -> None:
        for client in {id(c): c for c in self._clients.values()}.values():
            client.close()
        self._clients.clear()


def session(open_client: DestinationClient) -> niquests.Session:
    """A niquests session whose only way out is ``EgressAdapter``."""
    value = niquests.Session()
    value.trust_env = False
    adapter = EgressAdapter(open_client)
    value.adapters.clear()
    value.mount("https://", adapter)
    value.mount("http://", adapter)
    return value
