"""The one httpx client factory and the one retry policy for calls to the outside world.

Classification is a table: HTTP status -> what the pipeline does (``hub.errors``). Provider
clients extend the table with their own error reasons; everyone shares ``call_with_retries``
for short in-call retries (a few attempts within seconds, honouring ``Retry-After``, with
jitter). Retries across minutes and hours are the job queue's business, not this module's.
"""

from __future__ import annotations

import email.utils
import functools
import os
import ssl
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import certifi
import httpx
from tenacity import (
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    stop_any,
    wait_exponential_jitter,
)
from tenacity import Retrying as _Retrying
from tenacity.stop import stop_base

from hub.errors import PermanentError, PipelineError, ReauthRequired, SkippableError, TransientError
from hub.observability.instrument import instrument_httpx

T = TypeVar("T")

DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
USER_AGENT = "Hub/0.1 (+https://hub.example.com)"
MAX_IN_CALL_WAIT = 30.0  # never sleep longer than this inside one job

# status -> error class; a provider's client.py layers its own reasons over this.
DEFAULT_TABLE: Mapping[int, type[PipelineError]] = {
    401: ReauthRequired,
    403: PermanentError,
    404: SkippableError,
    408: TransientError,
    409: PermanentError,
    410: SkippableError,
    425: TransientError,
    429: TransientError,
    500: TransientError,
    502: TransientError,
    503: TransientError,
    504: TransientError,
}


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: building it costs ~15 ms, a client costs ~0.1 ms.
    ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` (a private CA, a TLS-inspecting proxy) are honoured."""
    cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    if cafile or capath:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    return ssl.create_default_context(cafile=certifi.where())


def tls_context() -> ssl.SSLContext:
    """The TLS context Hub's clients verify servers with (for a transport built outside ``client``)."""
    return _tls_context()


def client(
    *, timeout: httpx.Timeout = DEFAULT_TIMEOUT, headers: Mapping[str, str] | None = None, **options: Any
) -> httpx.Client:
    """An httpx client with Hub's timeouts and user agent, traced when tracing is on (a client
    span per request). Close it (``with``) when done."""
    options.setdefault("verify", _tls_context())
    http = httpx.Client(timeout=timeout, headers={"User-Agent": USER_AGENT, **(headers or {})}, **options)
    instrument_httpx(http)
    return http


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Parse ``Retry-After``: delta-seconds (fractions allowed, as Graph sends) or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def classify(
    response: httpx.Response, *, table: Mapping[int, type[PipelineError]] = DEFAULT_TABLE, code: str | None = None
) -> PipelineError:
    """The pipeline error for a non-2xx response, by status (``code`` names it for people)."""
    status = response.status_code
    kind = table.get(status) or (TransientError if status >= 500 else PermanentError)
    name = code or f"http_{status}"
    message = f"HTTP {status} from {response.request.method} {response.request.url.copy_with(query=None)}"
    if kind is TransientError:
        return TransientError(message, code=name, retry_after=retry_after_seconds(response.headers.get("retry-after")))
    return kind(message, code=name)


def from_transport_error(exc: httpx.HTTPError) -> TransientError:
    """Timeouts and connection failures are transient."""
    return TransientError(
        f"{type(exc).__name__}: {exc}", code="timeout" if isinstance(exc, httpx.TimeoutException) else "network_error"
    )


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    backoff = wait_exponential_jitter(multiplier=0.5, max=8.0, jitter=0.5)(state)
    if isinstance(exc, TransientError) and exc.retry_after is not None:
        return min(exc.retry_after, MAX_IN_CALL_WAIT)
    return backoff


class _GiveUpOnLongWaits(stop_base):
    """Stop when the other side asks for a wait longer than a job should sleep."""

    def __call__(self, retry_state: RetryCallState) -> bool:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        return isinstance(exc, TransientError) and (exc.retry_after or 0) > MAX_IN_CALL_WAIT


def call_with_retries(
    operation: Callable[[], T], *, attempts: int = 4, sleep: Callable[[float], None] = time.sleep
) -> T:
    """Run ``operation`` and retry it on ``TransientError`` a few times within seconds.

    A ``Retry-After`` longer than ``MAX_IN_CALL_WAIT`` is not slept through here: the error is
    raised so the job is retried later by the queue.
    """

    retrying = _Retrying(
        retry=retry_if_exception_type(TransientError),
        stop=stop_any(stop_after_attempt(attempts), stop_after_delay(60), _GiveUpOnLongWaits()),
        wait=_wait,
        sleep=sleep,
        reraise=True,
    )
    return retrying(operation)
