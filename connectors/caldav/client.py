"""A CalDAV account's client: python-caldav's ``DAVClient`` over Hub's egress (``_transport``),
CalDAV's error table, and in-call retries.

Every operation of the connector runs through ``CalDavClient.run(credentials, operation)``:
the operation gets a ``DAVClient`` for the stored account and whatever it raises is classified
here (never by the callers):

* a ``DAVError`` by its HTTP status and the first DAV precondition the server named (RFC 4918
  §16, RFC 6578 ``valid-sync-token``) through ``TABLE``: 401 after the library's own
  authentication negotiation -> ``ReauthRequired`` (the app password was revoked or changed),
  403 ``valid-sync-token`` -> ``ResyncRequired``, 429/503 -> transient (``Retry-After`` kept);
* a destination the egress guard refuses -> ``PermanentError`` ``caldav_url_not_allowed``;
* a server that cannot be reached -> transient ``network_error`` / ``timeout``;
* an answer the library cannot read -> transient ``provider_bad_response``.

Transient errors are retried within the call (``hub.http.call_with_retries``, ``sleep``
injected). The library's own rate-limit sleeping is off so that one policy decides.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Coroutine
from typing import Any, Final, TypeVar

import httpx
import niquests
from caldav.davclient import DAVClient
from caldav.lib import error as dav_error
from lxml import etree

from connectors.caldav._transport import DestinationClient, Refused, Unreachable, session
from connectors.caldav.schemas import Account
from hub import http
from hub.connectors import CredentialStore, ResyncRequired
from hub.errors import PermanentError, PipelineError, TransientError

T = TypeVar("T")

URL_NOT_ALLOWED: Final = "caldav_url_not_allowed"
VALID_SYNC_TOKEN: Final = "valid-sync-token"  # noqa: S105 - a DAV precondition name
TIMEOUT: Final = 15

# (status, DAV precondition) -> (what the pipeline does, Hub's code), over hub.http.DEFAULT_TABLE
# (401 reauth, 403 permission denied, 404/410 not found, 409 conflict, 429 rate limited, 5xx).
TABLE: Final = http.DEFAULT_TABLE.over(
    {
        (403, VALID_SYNC_TOKEN): (ResyncRequired, http.RESYNC_REQUIRED),  # RFC 6578 §3.2
        (409, VALID_SYNC_TOKEN): (ResyncRequired, http.RESYNC_REQUIRED),
        (412, VALID_SYNC_TOKEN): (ResyncRequired, http.RESYNC_REQUIRED),  # Xandikos
        (503, None): (TransientError, http.PROVIDER_UNAVAILABLE),
        (507, None): (TransientError, http.PROVIDER_UNAVAILABLE),
    }
)


def precondition(exc: dav_error.DAVError) -> str | None:
    """The first precondition the server named (``{DAV:}valid-sync-token`` -> its local name)."""
    for name in getattr(exc, "preconditions", None) or ():
        return str(name).rsplit("}", 1)[-1] or None
    return None


def _retry_after(exc: dav_error.DAVError) -> float | None:
    if isinstance(exc, dav_error.RateLimitError):
        if exc.retry_after_seconds is not None:
            return float(exc.retry_after_seconds)
        return http.retry_after_seconds(exc.retry_after)
    return None


def classify(exc: BaseException, what: str) -> PipelineError:
    """The pipeline error for anything a CalDAV operation raised."""
    if isinstance(exc, PipelineError):
        return exc
    if isinstance(exc, Refused):
        return PermanentError(f"{what}: the server address is not allowed ({exc.error})", code=URL_NOT_ALLOWED)
    if isinstance(exc, Unreachable):
        return http.from_transport_error(exc.error)
    if isinstance(exc, dav_error.DAVError) and isinstance(exc.status, int):
        status, reason = exc.status, precondition(exc)
        return TABLE.error(
            f"HTTP {status}{' ' + reason if reason else ''} from the CalDAV server ({what})",
            status=status,
            reason=reason,
            retry_after=_retry_after(exc),
        )
    if isinstance(exc, niquests.exceptions.RequestException):
        return TransientError(f"{what}: {type(exc).__name__}", code="network_error")
    return TransientError(
        f"{what}: the CalDAV server's answer could not be read ({type(exc).__name__})",
        code=http.PROVIDER_BAD_RESPONSE,
    )


_READ_ERRORS: Final = (
    dav_error.DAVError,
    niquests.exceptions.RequestException,
    etree.XMLSyntaxError,
    ValueError,
    KeyError,
    AttributeError,
    httpx.HTTPError,
)


class CalDavClient:
    def __init__(self, open_client: DestinationClient, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._open = open_client
        self._sleep = sleep

    def dav(self, url: str, username: str, password: str) -> DAVClient:
        """A ``DAVClient`` for ``url`` whose every request goes through Hub's egress."""
        client = DAVClient(
            url=url,
            username=username,
            password=password,
            timeout=TIMEOUT,
            enable_rfc6764=False,  # Hub resolves /.well-known/caldav itself, through the guard
            require_tls=False,  # the guard decides which schemes are allowed
            rate_limit_handle=False,
        )
        client.session.close()
        client.session = session(self._open)
        return client

    def once(self, url: str, username: str, password: str, operation: Callable[[DAVClient], T], what: str) -> T:
        """Run ``operation`` once (no retries); errors classified."""
        client = self.dav(url, username, password)
        try:
            return operation(client)
        except _READ_ERRORS as exc:
            raise classify(exc, what) from exc
        finally:
            client.close()

    def run(self, credentials: CredentialStore, operation: Callable[[DAVClient], T], what: str) -> T:
        """Run ``operation`` for the stored account, retrying transient failures in-call."""
        account = Account.of(credentials)

        def attempt() -> T:
            return self.once(account.principal_url, account.username, account.password, operation, what)

        return http.call_with_retries(attempt, sleep=self._sleep)


def done(value: T | Coroutine[Any, Any, T]) -> T:
    """A python-caldav answer from the sync client (its methods are typed for both clients)."""
    if inspect.iscoroutine(value):
        value.close()
        raise TypeError("an async python-caldav call reached the sync connector")
    return value  # type: ignore[return-value]


def response_status(response: Any) -> int:
    """The HTTP status of a ``DAVResponse`` (python-caldav's answer to a raw request)."""
    return int(getattr(response, "status", 0) or 0)
