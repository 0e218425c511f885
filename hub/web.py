"""Small helpers shared by the API controllers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeAlias

from litestar import Request, Response
from litestar.params import Parameter

from hub import idempotency
from hub.auth.principal import Principal
from hub.crypto import Keyring
from hub.observability.context import request_id_of
from hub.pagination import MAX_LIMIT

ApiRequest: TypeAlias = Request[Principal, Any, Any]
"""A request to the /v1 API: ``request.user`` is the authenticated ``Principal``."""


def request_id(request: Request[Any, Any, Any]) -> str | None:
    return request_id_of(request.scope)


Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="Page size, 1..100.")]
IdempotencyKeyHeader = Annotated[
    str | None,
    Parameter(header="Idempotency-Key", description="1-255 printable ASCII characters; see Idempotency."),
]


def run_idempotent(
    request: ApiRequest,
    db: Any,
    keyring: Keyring,
    key: str | None,
    body: bytes,
    operation: Callable[[idempotency.Finish], object],
) -> Response[Any]:
    """Run a creating POST under its ``Idempotency-Key`` (see ``hub.idempotency``); the stored
    answer is encrypted with ``keyring`` (the app's ``keyring`` dependency)."""
    fingerprint = idempotency.fingerprint(request.method, request.url.path, body)
    return idempotency.run(db, keyring, request.user, key, fingerprint, request_id(request), operation)
