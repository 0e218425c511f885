"""One delivery attempt over HTTP: re-check the URL, sign, POST, and describe what happened.

The check resolves the endpoint's host once, and the POST goes to the addresses that check
accepted (``hub.egress``), never to a fresh DNS answer. The request carries the exact stored
body with the Standard Webhooks headers. Redirects are not followed (a 3xx is a failed
attempt). Only the first bytes of the answer are read, enough for the 500-character snippet
kept on the attempt. Nothing here touches the database.

Every attempt is checked, but the httpx client is the process's one for that checked
destination (its scheme, host, port and accepted addresses; ``_Clients``), so attempts to an
endpoint reuse its connections instead of building a client and connecting each time. A
client only reaches the addresses of its own destination (``hub.egress.PinnedTransport``):
when the host resolves differently, the check yields another destination and another client.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Final

import httpx
import msgspec
from prometheus_client import Histogram

from hub import egress
from hub.clock import utcnow
from hub.deliveries import signing, urls
from hub.http import retry_after_seconds
from hub.observability import tracing

SNIPPET_CHARS = 500
_SNIPPET_BYTES = SNIPPET_CHARS * 4  # enough for 500 characters of UTF-8

ATTEMPT_SECONDS = Histogram(
    "hub_webhook_attempt_duration_seconds",
    "Time from sending a webhook to reading the start of the answer (or giving up).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0),
)


MAX_CLIENTS: Final = 64  # destinations whose client (and its idle connections) a process keeps


class _Clients:
    """The process's delivery clients, one per checked destination and timeout, the least
    recently used closed beyond ``MAX_CLIENTS``. The key also holds the network seam and
    whether tracing is on, so a test's replaced network or tracer gets clients of its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: OrderedDict[tuple[object, ...], httpx.Client] = OrderedDict()

    def get(self, destination: egress.Destination, timeout: float) -> httpx.Client:
        key = (
            destination.scheme,
            destination.host,
            destination.port,
            destination.addresses,
            timeout,
            egress.network(),
            tracing.configure(),
        )
        with self._lock:
            found = self._clients.get(key)
            if found is not None:
                self._clients.move_to_end(key)
                return found
            created = egress.client(
                destination, timeout=httpx.Timeout(timeout), follow_redirects=False, cookies=_no_cookies()
            )
            self._clients[key] = created
            evicted = self._clients.popitem(last=False)[1] if len(self._clients) > MAX_CLIENTS else None
        if evicted is not None:
            evicted.close()
        return created


_clients = _Clients()


def _no_cookies() -> CookieJar:
    """A cookie jar that keeps nothing: a client is shared by every endpoint on its destination,
    whichever organization owns it, so what one endpoint's answer sets must never reach another's
    request."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


class Outcome(msgspec.Struct, frozen=True):
    """What one attempt produced. ``error`` is ``"<code>: <explanation>"`` for every failure."""

    status_code: int | None = None
    latency_ms: int | None = None
    snippet: str | None = None
    error: str | None = None
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


def send(url: str, secret: str, msg_id: str, body: bytes, *, allow_private: bool, timeout: float) -> Outcome:
    """POST ``body`` to ``url`` signed with ``secret`` as message ``msg_id``; never raises for
    network trouble or refusals, which are failed attempts like any other."""
    try:
        destination = urls.destination(url, allow_private=allow_private)
    except urls.UrlError as exc:
        return Outcome(error=f"{exc.code}: url {exc}")
    timestamp = int(utcnow().timestamp())
    headers = {"content-type": "application/json", **signing.headers(secret, msg_id, timestamp, body)}
    started = time.perf_counter()
    http = _clients.get(destination, timeout)
    try:
        with http.stream("POST", destination.url, content=body, headers=headers) as response:
            raw = _read_prefix(response)
    except httpx.TimeoutException:
        return Outcome(latency_ms=_elapsed_ms(started), error=f"timeout: no answer within {timeout:g} s")
    except httpx.HTTPError as exc:
        return Outcome(latency_ms=_elapsed_ms(started), error=f"network_error: {type(exc).__name__}: {exc}")
    status = response.status_code
    error = None
    if 300 <= status < 400:
        error = f"redirect: HTTP {status}; redirects are not followed, so point the endpoint at the final URL"
    elif not 200 <= status < 300:
        error = f"http_{status}: the endpoint answered HTTP {status}"
    return Outcome(
        status_code=status,
        latency_ms=_elapsed_ms(started),
        snippet=raw.decode("utf-8", errors="replace")[:SNIPPET_CHARS] or None,
        error=error,
        retry_after=retry_after_seconds(response.headers.get("retry-after")),
    )


def _read_prefix(response: httpx.Response) -> bytes:
    """The first bytes of the answer; the rest is never downloaded."""
    raw = b""
    for chunk in response.iter_bytes():
        raw += chunk
        if len(raw) >= _SNIPPET_BYTES:
            break
    return raw[:_SNIPPET_BYTES]


def _elapsed_ms(started: float) -> int:
    seconds = time.perf_counter() - started
    ATTEMPT_SECONDS.observe(seconds)
    return round(seconds * 1000)
