"""Authorized calls to Microsoft Graph: the error table, in-call retries, the mailbox limit.

Every call goes through ``GraphClient.request``:

* a bearer token from ``MicrosoftTokens`` (refreshed and saved by MSAL when due);
* a slot of the mailbox's concurrency limit (``MailboxLimiter``: 4 per mailbox across processes
  when a Redis client is given, per process otherwise);
* ``hub.http.call_with_retries`` for transient failures, honouring ``Retry-After`` (Graph sends
  fractional seconds, e.g. ``2.128``);
* on 401, one forced token refresh and one more try; a second 401 is ``ReauthRequired``.

Classification is a table: Graph's ``error.code`` (case-insensitive) first, then the status over
``hub.http.DEFAULT_TABLE``. Branch on codes, never on messages (PROTOCOLS E).

| code / status                                          | error                               |
| ------------------------------------------------------ | ----------------------------------- |
| 401 (any code)                                         | refresh, retry once, then reauth    |
| 429, 503, 504, ``TooManyRequests``, ``serviceNot...``  | ``TransientError`` (``retry_after``) |
| ``activityLimitReached``                               | ``TransientError``                  |
| 410, ``syncStateNotFound``, ``resyncRequired``         | ``ResyncRequired``                  |
| 404, ``itemNotFound``, ``ErrorItemNotFound``           | ``SkippableError``                  |
| 403, ``accessDenied``, ``ErrorAccessDenied``           | ``PermanentError``                  |
| 409                                                    | ``Conflict`` (a ``PermanentError``) |

An error's ``code`` is Graph's error code when the body has one, else ``http_<status>``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Protocol, TypeVar

import httpx
import msgspec

from connectors.microsoft._limiter import MailboxLimiter
from connectors.microsoft.schemas import GraphErrorBody, Me
from hub.connectors import CredentialStore, ResyncRequired
from hub.errors import PermanentError, PipelineError, ReauthRequired, SkippableError, TransientError
from hub.http import DEFAULT_TABLE, call_with_retries, classify, from_transport_error

T = TypeVar("T")

PREFER_UTC: Final = 'outlook.timezone="UTC"'


class Unauthorized(ReauthRequired):
    """Graph answered 401: the token may just be stale, so refresh once before giving up."""


class Conflict(PermanentError):
    """Graph answered 409 (not documented for creates with a ``transactionId``; handled anyway)."""


STATUS_TABLE: Final[Mapping[int, type[PipelineError]]] = {**DEFAULT_TABLE, 409: Conflict, 410: ResyncRequired}
CODE_TABLE: Final[Mapping[str, type[PipelineError]]] = {
    "syncstatenotfound": ResyncRequired,
    "resyncrequired": ResyncRequired,
    "itemnotfound": SkippableError,
    "erroritemnotfound": SkippableError,
    "accessdenied": PermanentError,
    "erroraccessdenied": PermanentError,
    "toomanyrequests": TransientError,
    "activitylimitreached": TransientError,
    "servicenotavailable": TransientError,
    # no Exchange Online mailbox behind the account (personal account without Outlook, on-premises)
    "mailboxnotenabledforrestapi": PermanentError,
    "mailboxnotsupportedforrestapi": PermanentError,
}


class TokenSource(Protocol):
    def access_token(self, credentials: CredentialStore, *, force_refresh: bool = False) -> str: ...


def segment(graph_id: str) -> str:
    """A Graph id as one path segment: ids are base64-like and may hold "/"."""
    return graph_id.replace("/", "%2F")


def error_for(response: httpx.Response) -> PipelineError:
    """The pipeline error for a non-2xx Graph response (see the table above)."""
    try:
        body = msgspec.json.decode(response.content, type=GraphErrorBody)
        code = body.error.code if body.error else None
    except (msgspec.DecodeError, msgspec.ValidationError):
        code = None
    status = response.status_code
    if status == 401:
        kind: type[PipelineError] = Unauthorized
    else:
        kind = (
            CODE_TABLE.get((code or "").lower())
            or STATUS_TABLE.get(status)
            or (TransientError if status >= 500 else PermanentError)
        )
    return classify(response, table={status: kind}, code=code or f"http_{status}")


def decode(response: httpx.Response, kind: type[T]) -> T:
    """A 2xx body as ``kind``; an unreadable body is transient (a proxy or a Graph hiccup)."""
    try:
        return msgspec.json.decode(response.content, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise TransientError(f"Unreadable Graph response: {exc}", code="graph_bad_response") from exc


class GraphClient:
    def __init__(
        self,
        tokens: TokenSource,
        *,
        base_url: str,
        http: httpx.Client,
        limiter: MailboxLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = 4,
    ) -> None:
        self.tokens = tokens
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.limiter = limiter or MailboxLimiter()
        self._sleep = sleep
        self._attempts = attempts

    def url(self, path_or_url: str) -> str:
        """Absolute URLs (``@odata.nextLink``/``deltaLink``) are used as-is; paths join the base."""
        if path_or_url.startswith(("https://", "http://")):
            return path_or_url
        return self.base_url + path_or_url

    def request(
        self,
        credentials: CredentialStore,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        prefer: Iterable[str] = (),
    ) -> httpx.Response:
        """One Graph call for the account in ``credentials``; a 2xx response or a pipeline error."""
        mailbox = str(credentials.get().get("home_account_id") or "unknown")
        token = self.tokens.access_token(credentials)
        send = self._sender(method, self.url(path_or_url), params=params, json=json, prefer=tuple(prefer))
        try:
            return call_with_retries(lambda: send(token, mailbox), attempts=self._attempts, sleep=self._sleep)
        except Unauthorized:
            token = self.tokens.access_token(credentials, force_refresh=True)
        try:
            return call_with_retries(lambda: send(token, mailbox), attempts=self._attempts, sleep=self._sleep)
        except Unauthorized as exc:
            raise ReauthRequired(f"{exc.message} (after a token refresh)", code=exc.code) from exc

    def profile(self, access_token: str) -> Me:
        """``GET /me`` with a token just redeemed (linking): ``id``, ``mail``, ``userPrincipalName``.

        No mailbox slot: the account is not known yet, and linking makes this one call.
        """
        select = {"$select": "id,mail,userPrincipalName"}
        send = self._sender("GET", self.url("/me"), params=select, json=None, prefer=())
        response = call_with_retries(lambda: send(access_token, None), attempts=self._attempts, sleep=self._sleep)
        return decode(response, Me)

    def _sender(
        self, method: str, url: str, *, params: Mapping[str, str] | None, json: Any, prefer: tuple[str, ...]
    ) -> Callable[[str, str | None], httpx.Response]:
        def send(token: str, mailbox: str | None) -> httpx.Response:
            headers = [("Authorization", f"Bearer {token}"), ("Accept", "application/json")]
            headers += [("Prefer", value) for value in prefer]
            if mailbox is None:
                response = self._send(method, url, params, json, headers)
            else:
                with self.limiter.slot(mailbox):
                    response = self._send(method, url, params, json, headers)
            if response.is_success:
                return response
            raise error_for(response)

        return send

    def _send(
        self, method: str, url: str, params: Mapping[str, str] | None, json: Any, headers: list[tuple[str, str]]
    ) -> httpx.Response:
        try:
            return self.http.request(method, url, params=params, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise from_transport_error(exc) from exc
