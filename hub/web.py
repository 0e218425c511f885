"""Small helpers shared by the API controllers."""

from __future__ import annotations

from typing import Any

from litestar import Request

from hub.observability.context import request_id_of


def request_id(request: Request[Any, Any, Any]) -> str | None:
    return request_id_of(request.scope)
