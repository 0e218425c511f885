"""Small helpers shared by the API controllers."""

from __future__ import annotations

from typing import Any, TypeAlias

from litestar import Request

from hub.auth.principal import Principal
from hub.observability.context import request_id_of

ApiRequest: TypeAlias = Request[Principal, Any, Any]
"""A request to the /v1 API: ``request.user`` is the authenticated ``Principal``."""


def request_id(request: Request[Any, Any, Any]) -> str | None:
    return request_id_of(request.scope)
