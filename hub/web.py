"""Small helpers shared by the API controllers."""

from __future__ import annotations

from typing import Annotated, Any, TypeAlias

from litestar import Request
from litestar.params import Parameter

from hub.auth.principal import Principal
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
