"""Error shapes in the OpenAPI document: every /v1 operation lists the problem+json answers it
can give, with the stable codes clients branch on (docs/errors.md has the catalogue)."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIResponse, Reference, Schema
from litestar.openapi.spec.enums import OpenAPIType

from hub.errors import PROBLEM_MEDIA_TYPE

PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["type", "title", "status", "detail", "code", "request_id"],
    properties={
        "type": Schema(type=OpenAPIType.STRING, description="URL of the code's entry in the error catalogue"),
        "title": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER),
        "detail": Schema(type=OpenAPIType.STRING, description="What happened and what to do"),
        "code": Schema(type=OpenAPIType.STRING, description="Stable machine-readable code"),
        "request_id": Schema(type=OpenAPIType.STRING),
        "errors": Schema(
            type=OpenAPIType.ARRAY,
            description="validation_failed: one entry per invalid field",
            items=Schema(
                type=OpenAPIType.OBJECT,
                properties={"field": Schema(type=OpenAPIType.STRING), "message": Schema(type=OpenAPIType.STRING)},
            ),
        ),
        "conflicts": Schema(
            type=OpenAPIType.ARRAY,
            description="booking_conflict: the busy intervals in the way",
            items=Schema(
                type=OpenAPIType.OBJECT,
                properties={
                    "start": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME),
                    "end": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME),
                    "source": Schema(type=OpenAPIType.STRING),
                    "booking_id": Schema(type=OpenAPIType.STRING),
                },
            ),
        ),
    },
)

_COMMON = {
    "400": "malformed_json: the body is not valid JSON",
    "401": "unauthenticated or api_key_revoked",
    "403": "insufficient_scope",
    "422": "validation_failed, unknown_timezone, nonexistent_local_time, ambiguous_local_time, idempotency_key_reused",
    "429": "rate_limited (see Retry-After and RateLimit-* headers)",
}
_WITH_ID = {"404": "not_found: no such object in this organization"}
_WRITES = {
    "409": "booking_conflict, outside_availability or idempotency_key_in_use (where applicable)",
    "413": "payload_too_large",
    "415": "unsupported_media_type: send application/json",
}

# Codes only some operations answer, added to that status's list: (method, path) -> status -> codes.
_OPERATION_CODES = {
    ("post", "/v1/users/{user_id}/connections/{provider}/authorize"): {
        "422": "provider_not_configured, redirect_uri_not_allowed (the redirect_uri's origin is not allowed)"
    },
    ("post", "/v1/webhook-endpoints"): {"422": "webhook_url_not_allowed (the URL resolves to a non-public address)"},
}


def _problem(description: str) -> OpenAPIResponse:
    return OpenAPIResponse(
        description=description,
        content={PROBLEM_MEDIA_TYPE: OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Problem"))},
    )


def _answers_404(path: str, operation: Any) -> bool:
    """Paths naming an object, and operations that look one up by a required ``*_id`` query."""
    if "{" in path:
        return True
    return any(
        getattr(p, "param_in", None) == "query" and p.required and p.name.endswith("_id")
        for p in operation.parameters or []
    )


def add_problem_responses(app: Litestar) -> None:
    openapi = app.openapi_schema
    if openapi.components.schemas is None:
        openapi.components.schemas = {}
    openapi.components.schemas["Problem"] = PROBLEM_SCHEMA
    for path, item in (openapi.paths or {}).items():
        if not path.startswith("/v1/"):
            continue
        for method in ("get", "post", "patch", "delete", "put"):
            operation = getattr(item, method, None)
            if operation is None:
                continue
            answers = dict(_COMMON)
            if _answers_404(path, operation):
                answers.update(_WITH_ID)
            if method in ("post", "patch", "put"):
                answers.update(_WRITES)
            for status, codes in _OPERATION_CODES.get((method, path), {}).items():
                answers[status] = f"{answers[status]}, {codes}" if status in answers else codes
            responses = operation.responses or {}
            for status, description in answers.items():
                # Hub answers every error as problem+json: replace the framework's generic 400.
                if status == "400" or status not in responses:
                    responses[status] = _problem(description)
            operation.responses = responses
    for service_path in ("/health", "/ready", "/metrics"):
        service_item = (openapi.paths or {}).get(service_path)
        if service_item is not None and service_item.get is not None:
            service_item.get.security = []  # no API key needed
