"""Service endpoints: liveness, readiness."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import msgspec
from litestar import Request, Response, get

from hub.errors import PROBLEM_MEDIA_TYPE, problem_body
from hub.observability.context import request_id_of


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    status: str
    checks: dict[str, str]


@get("/health", tags=["Service"], summary="Liveness", include_in_schema=True)
async def health() -> Health:
    return Health(status="ok")


@get("/ready", tags=["Service"], summary="Readiness: the database and Redis answer")
async def ready(request: Request[Any, Any, Any]) -> Response[Any]:
    state = request.app.state
    checks = await anyio.to_thread.run_sync(_checks, state.db, state.redis)
    if all(v == "ok" for v in checks.values()):
        return Response(Readiness(status="ok", checks=checks))
    failing = ", ".join(k for k, v in checks.items() if v != "ok")
    body = problem_body(
        status=503,
        code="not_ready",
        title="Not ready",
        detail=f"Unreachable: {failing}.",
        request_id=request_id_of(request.scope),
        extra={"checks": checks},
    )
    return Response(body, status_code=503, media_type=PROBLEM_MEDIA_TYPE)


def _checks(db: Any, redis_client: Any) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        db.ping()
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        redis_client.ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"error: {type(exc).__name__}"
    return checks
