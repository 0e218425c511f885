"""The one httpx client factory and the one retry policy for calls to the outside world.

Classification is a table (``ErrorTable``): HTTP status and the provider's reason -> what the
pipeline does (``hub.errors``) and Hub's code for it, one code set for every provider (the
provider's own code is kept as ``provider_code``). Each provider's ``client.py`` layers its
reasons over ``DEFAULT_TABLE`` (and ``OAUTH_TABLE`` for its token endpoint); everyone shares ``call_with_retries``
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
from typing import Any, Final, TypeVar

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

from hub.clock import utcnow
from hub.errors import PermanentError, PipelineError, ReauthRequired, SkippableError, TransientError
from hub.observability.instrument import instrument_httpx

T = TypeVar("T")

DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
USER_AGENT = "Hub/0.1 (+https://hub.example.com)"
MAX_IN_CALL_WAIT = 30.0  # never sleep longer than this inside one job

# --- Hub's codes for provider failures (docs/errors.md, "Codes on connections") ------------------
# One code per condition, whichever provider answered; the provider's own code travels beside
# it as ``PipelineError.provider_code``.
RATE_LIMITED: Final = "rate_limited"
QUOTA_EXCEEDED: Final = "quota_exceeded"
PROVIDER_UNAVAILABLE: Final = "provider_unavailable"
PROVIDER_BAD_RESPONSE: Final = "provider_bad_response"
REAUTH_REQUIRED: Final = "reauth_required"
RESYNC_REQUIRED: Final = "resync_required"
PERMISSION_DENIED: Final = "permission_denied"
NOT_FOUND: Final = "not_found"
CONFLICT: Final = "conflict"
INVALID_REQUEST: Final = "invalid_request"
PROVIDER_MISCONFIGURED: Final = "provider_misconfigured"
OAUTH_CODE_INVALID: Final = "oauth_code_invalid"
OAUTH_STATE_MISMATCH: Final = "oauth_state_mismatch"

Rule = tuple[type[PipelineError], str]  # what the pipeline does, and Hub's code for it
Key = tuple[int | None, str | None]  # (HTTP status or None: any, provider reason or None: any)


class ErrorTable:
    """``(status, reason) -> (error class, Hub's code)``, layered over a ``base`` table.

    ``reason`` is the provider's own name for the error (Google's ``errors[0].reason``, Graph's
    ``error.code``, an OAuth ``error``), matched case-insensitively. A key's status of None
    matches any status, a reason of None any reason. The most specific rule wins: ``(status,
    reason)``, then ``(None, reason)``, then ``(status, None)``, first in this table, then in its
    base. A status in ``status_decides`` is never decided by a reason alone (for API calls a
    401 means the access token, whatever the body says). Nothing matched: 5xx is
    ``provider_unavailable`` (transient), anything else ``invalid_request`` (permanent).

    ``retry_after`` gives a Hub code a default wait when the answer carries no ``Retry-After``.
    """

    def __init__(
        self,
        rules: Mapping[Key, Rule],
        *,
        base: ErrorTable | None = None,
        retry_after: Mapping[str, float] | None = None,
        status_decides: frozenset[int] | None = None,
    ) -> None:
        self._rules: dict[Key, Rule] = {(status, _fold(reason)): rule for (status, reason), rule in rules.items()}
        self._base = base
        self._retry_after: dict[str, float] = {**(base._retry_after if base else {}), **(retry_after or {})}
        inherited: frozenset[int] = base._status_decides if base else frozenset()
        self._status_decides: frozenset[int] = inherited if status_decides is None else status_decides

    def over(self, rules: Mapping[Key, Rule], *, retry_after: Mapping[str, float] | None = None) -> ErrorTable:
        """A provider's table: ``rules`` first, this table for everything they do not name."""
        return ErrorTable(rules, base=self, retry_after=retry_after)

    def rule(self, status: int | None, reason: str | None = None) -> Rule:
        """What ``(status, reason)`` means: the error class and Hub's code."""
        folded = _fold(reason)
        keys: list[Key] = [(status, folded)] if folded is not None else []
        if folded is not None and status not in self._status_decides:
            keys.append((None, folded))
        keys.append((status, None))
        table: ErrorTable | None = self
        while table is not None:
            for key in keys:
                if key in table._rules:
                    return table._rules[key]
            table = table._base
        if status is not None and status >= 500:
            return TransientError, PROVIDER_UNAVAILABLE
        return PermanentError, INVALID_REQUEST

    def names(self, reason: str | None) -> bool:
        """Whether a rule of this table (or its base) names ``reason`` itself."""
        folded = _fold(reason)
        table: ErrorTable | None = self
        while table is not None and folded is not None:
            if any(key[1] == folded for key in table._rules):
                return True
            table = table._base
        return False

    def error(
        self, message: str, *, status: int | None, reason: str | None, retry_after: float | None = None
    ) -> PipelineError:
        """The pipeline error the rule for ``(status, reason)`` names; ``provider_code`` is
        ``reason``, else ``http_<status>``."""
        kind, code = self.rule(status, reason)
        provider_code = reason or (f"http_{status}" if status is not None else None)
        if issubclass(kind, TransientError):
            wait = retry_after if retry_after is not None else self._retry_after.get(code)
            return kind(message, code=code, provider_code=provider_code, retry_after=wait)
        return kind(message, code=code, provider_code=provider_code)

    def classify(
        self, response: httpx.Response, *, reason: str | None = None, overrides: Mapping[int, Rule] | None = None
    ) -> PipelineError:
        """The pipeline error for a non-2xx ``response`` whose body named ``reason``.

        ``overrides`` decide by status alone for one call (e.g. any 410 on a sync-token request
        means "start over"), before the table."""
        status = response.status_code
        request = response.request
        named = f" {reason}" if reason else ""
        message = f"HTTP {status}{named} from {request.method} {request.url.copy_with(query=None)}"
        retry_after = retry_after_seconds(response.headers.get("retry-after"))
        override = (overrides or {}).get(status)
        table = self if override is None else self.over({(status, None): override, (status, reason): override})
        return table.error(message, status=status, reason=reason, retry_after=retry_after)


def _fold(reason: str | None) -> str | None:
    return reason.casefold() if reason else None


# What every provider's table is layered over: the meaning of a bare HTTP status.
DEFAULT_TABLE: Final = ErrorTable(
    {
        (401, None): (ReauthRequired, REAUTH_REQUIRED),  # still 401 after one token refresh
        (403, None): (PermanentError, PERMISSION_DENIED),
        (404, None): (SkippableError, NOT_FOUND),
        (408, None): (TransientError, PROVIDER_UNAVAILABLE),
        (409, None): (PermanentError, CONFLICT),
        (410, None): (SkippableError, NOT_FOUND),  # gone: already deleted
        (425, None): (TransientError, PROVIDER_UNAVAILABLE),
        (429, None): (TransientError, RATE_LIMITED),
    },
    status_decides=frozenset({401}),
)

# The ``error`` of an OAuth 2.0 token endpoint (RFC 6749 5.2, OpenID Connect Core 3.1.2.6)
# when a refresh fails; a provider layers its own over it.
OAUTH_TABLE: Final = ErrorTable(
    {
        (None, "invalid_grant"): (ReauthRequired, REAUTH_REQUIRED),  # revoked, expired, password changed
        (None, "interaction_required"): (ReauthRequired, REAUTH_REQUIRED),
        (None, "consent_required"): (ReauthRequired, REAUTH_REQUIRED),
        (None, "login_required"): (ReauthRequired, REAUTH_REQUIRED),
        (None, "invalid_client"): (PermanentError, PROVIDER_MISCONFIGURED),  # relinking cannot help
        (None, "unauthorized_client"): (PermanentError, PROVIDER_MISCONFIGURED),
        (None, "access_denied"): (PermanentError, "access_denied"),  # the user declined consent
        (None, "temporarily_unavailable"): (TransientError, PROVIDER_UNAVAILABLE),
        (None, "server_error"): (TransientError, PROVIDER_UNAVAILABLE),
    }
)


def linking_error(error: PipelineError) -> PipelineError:
    """A token error met while redeeming an authorization code: a grant that "needs reauth" there
    means the code itself is unusable (invalid, expired or used), so linking must start again."""
    if isinstance(error, ReauthRequired):
        return PermanentError(error.message, code=OAUTH_CODE_INVALID, provider_code=error.provider_code)
    return error


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
    return max(0.0, (when - (now or utcnow())).total_seconds())


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
