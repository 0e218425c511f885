"""Calls to Microsoft Graph: Graph's error table, ``@odata.nextLink`` pagination and the
per-mailbox concurrency limit, over the shared authorized client (``hub.provider_client``: token,
one refresh on 401, in-call retries honouring ``Retry-After`` (Graph sends fractional seconds,
e.g. ``2.128``), decoding). ``spec.build`` makes one ``MicrosoftClient`` per connector.

Every request holds a slot of the mailbox's limit (``MailboxLimiter``: 4 per mailbox across
processes when a Redis client is given, per process otherwise).

Classification is a table over ``hub.http.DEFAULT_TABLE``: Graph's ``error.code``
(case-insensitive, whatever the status, except that a 401 always means the token) first, then the
status. Branch on codes, never on messages (PROTOCOLS E). Graph's code is kept as the error's
``provider_code``.

| code / status                                                | Hub's code                          |
| ------------------------------------------------------------ | ----------------------------------- |
| 401 (any code)                                               | refresh, retry once, then ``reauth_required`` |
| 429, ``TooManyRequests``, ``activityLimitReached``           | ``rate_limited`` (transient)        |
| 503, 504, ``serviceNotAvailable``                            | ``provider_unavailable`` (transient) |
| 410, ``syncStateNotFound``, ``resyncRequired``               | ``resync_required``                 |
| 404, ``itemNotFound``, ``ErrorItemNotFound``                 | ``not_found`` (skippable)           |
| 403, ``accessDenied``, ``ErrorAccessDenied``                 | ``permission_denied``               |
| ``MailboxNotEnabledForRESTAPI``, ``...NotSupportedForRESTAPI`` | ``account_unsupported``           |
| 409                                                          | ``conflict``                        |
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Final

import httpx
import msgspec

from connectors.microsoft._limiter import MailboxLimiter
from connectors.microsoft.schemas import GraphErrorBody
from hub import http
from hub.connectors import CredentialStore, ResyncRequired
from hub.errors import PermanentError, SkippableError, TransientError
from hub.provider_client import NextPage, Params, ProviderClient, TokenSource

PREFER_UTC: Final = 'outlook.timezone="UTC"'
ACCOUNT_UNSUPPORTED: Final = "account_unsupported"

TABLE: Final = http.DEFAULT_TABLE.over(
    {
        (410, None): (ResyncRequired, http.RESYNC_REQUIRED),
        (None, "syncStateNotFound"): (ResyncRequired, http.RESYNC_REQUIRED),
        (None, "resyncRequired"): (ResyncRequired, http.RESYNC_REQUIRED),
        (None, "itemNotFound"): (SkippableError, http.NOT_FOUND),
        (None, "ErrorItemNotFound"): (SkippableError, http.NOT_FOUND),
        (None, "accessDenied"): (PermanentError, http.PERMISSION_DENIED),
        (None, "ErrorAccessDenied"): (PermanentError, http.PERMISSION_DENIED),
        (None, "TooManyRequests"): (TransientError, http.RATE_LIMITED),
        (None, "activityLimitReached"): (TransientError, http.RATE_LIMITED),
        (None, "serviceNotAvailable"): (TransientError, http.PROVIDER_UNAVAILABLE),
        # no Exchange Online mailbox behind the account (personal account without Outlook, on-premises)
        (None, "MailboxNotEnabledForRESTAPI"): (PermanentError, ACCOUNT_UNSUPPORTED),
        (None, "MailboxNotSupportedForRESTAPI"): (PermanentError, ACCOUNT_UNSUPPORTED),
    }
)


def segment(graph_id: str) -> str:
    """A Graph id as one path segment: ids are base64-like and may hold "/"."""
    return graph_id.replace("/", "%2F")


def prefer(*values: str) -> list[tuple[str, str]]:
    """``Prefer`` headers, one per preference (``outlook.timezone``, ``odata.maxpagesize``)."""
    return [("Prefer", value) for value in values]


def error_code(response: httpx.Response) -> str | None:
    """``error.code`` of a Graph error body, if it has one."""
    try:
        body = msgspec.json.decode(response.content, type=GraphErrorBody)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return body.error.code if body.error else None


class MicrosoftClient(ProviderClient):
    provider = "Graph"

    def __init__(
        self,
        tokens: TokenSource,
        *,
        base_url: str,
        http_client: httpx.Client,
        table: http.ErrorTable = TABLE,
        limiter: MailboxLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = 4,
    ) -> None:
        super().__init__(
            tokens, base_url=base_url, http_client=http_client, table=table, sleep=sleep, attempts=attempts
        )
        self.limiter = limiter or MailboxLimiter()

    def reason(self, response: httpx.Response) -> str | None:
        return error_code(response)

    def next_page(self, page: Any, path_or_url: str, params: Params) -> NextPage | None:
        """Graph's ``@odata.nextLink`` as-is, until a page has none (or carries its deltaLink)."""
        if getattr(page, "delta_link", None):
            return None
        link = getattr(page, "next_link", None)
        return (link, None) if link else None

    def slot(self, credentials: CredentialStore) -> AbstractContextManager[None]:
        return self.limiter.slot(str(credentials.get().get("home_account_id") or "unknown"))
