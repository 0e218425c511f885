"""Error shapes in the OpenAPI document: every /v1 operation lists the problem+json answers it
can give, with the stable codes clients branch on (docs/errors.md has the catalogue).

The routes outside ``/v1`` that speak someone else's protocol (the provider webhook intake, the
OAuth callback the browser comes back to, the Prometheus scrape) are described as they really
answer: text/plain, HTML and redirects, not Litestar's default JSON 200 and "Validation
Exception" 400. ``describe_outside_routes`` replaces their generated answers."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Reference,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIType
from prometheus_client import CONTENT_TYPE_LATEST

from hub.errors import PROBLEM_MEDIA_TYPE
from hub.webhooks.service import MAX_NOTIFICATIONS

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
                    "hold_id": Schema(type=OpenAPIType.STRING, description="source hold: the live hold"),
                    "expires_at": Schema(
                        type=OpenAPIType.STRING,
                        format=OpenAPIFormat.DATE_TIME,
                        description="source hold: when the hold stops blocking the time",
                    ),
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
    ("post", "/v1/holds"): {"404": "not_found: a host of the hold is not in this organization"},
    ("post", "/v1/bookings"): {
        "404": "not_found: the host or the hold_id is not in this organization",
        "409": "hold_not_active (the hold_id was converted or released)",
        "410": "hold_expired: the hold_id's hold expired; its time is free again",
        "422": "conferencing_unavailable: no booking-target calendar of the host can make the conference asked for",
    },
    ("get", "/v1/availability"): {
        "404": "not_found: the user_id, or one of the user_ids, is not a user of this organization",
    },
    ("delete", "/v1/holds/{hold_id}"): {"409": "hold_not_active: the hold became a booking (cancel that instead)"},
    ("post", "/v1/bookings/{booking_id}/reschedule"): {"409": "booking_cancelled (a cancelled booking cannot move)"},
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
    openapi.components.schemas["Problem"] = PROBLEM_SCHEMA
    for path, item in (openapi.paths or {}).items():
        if not path.startswith("/v1/"):
            continue
        for method in ("get", "post", "patch", "delete", "put"):
            operation = getattr(item, method, None)
            if operation is not None:
                _document_problems(path, method, operation)
    for service_path in ("/health", "/ready", "/metrics"):
        service_item = (openapi.paths or {}).get(service_path)
        if service_item is not None and service_item.get is not None:
            service_item.get.security = []  # no API key needed


def _document_problems(path: str, method: str, operation: Operation) -> None:
    """Every problem+json answer ``method path`` can give, with its codes."""
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


# --- routes outside /v1 --------------------------------------------------------------------------


def _string(description: str | None = None) -> Schema:
    return Schema(type=OpenAPIType.STRING, description=description)


def _header(description: str, value: str | None = None) -> OpenAPIHeader:
    schema = Schema(type=OpenAPIType.STRING, enum=[value]) if value else Schema(type=OpenAPIType.STRING)
    return OpenAPIHeader(schema=schema, description=description)


def _plain(description: str) -> OpenAPIResponse:
    return OpenAPIResponse(
        description=description,
        content={"text/plain": OpenAPIMediaType(schema=_string())},
        headers={"X-Content-Type-Options": _header("The body is never to be sniffed as anything else", "nosniff")},
    )


def _provider_webhook() -> dict[str, OpenAPIResponse]:
    return {
        "200": _plain(
            "Graph's validation handshake (`?validationToken=`): the URL-decoded token itself; "
            "Google: the notification was verified and stored (empty body)"
        ),
        "202": _plain("Graph: the notifications were verified and stored, or belong to no channel (empty body)"),
        "400": _plain(
            "Not a notification this provider sends: a body that is not a changeNotificationCollection, "
            "missing X-Goog-* headers, or a validationToken longer than 1,024 characters"
        ),
        "403": _plain("Every notification of the request failed verification (clientState / channel token)"),
        "404": _problem(
            "not_found: no intake for this provider (unknown, or not configured on this Hub: no client id and secret)"
        ),
        "413": _problem(
            f"payload_too_large: a body larger than the request limit, or more than {MAX_NOTIFICATIONS:,} "
            "notifications in one request"
        ),
    }


def _oauth_callback() -> dict[str, OpenAPIResponse]:
    no_store = _header("Never cached", "no-store")
    return {
        "302": OpenAPIResponse(
            description=(
                "Back to the redirect_uri given when linking started, with `connection_id` on success or "
                "`error` (the provider's, or Hub's code) when the link failed"
            ),
            headers={
                "Location": _header("The client's redirect_uri with the result in its query"),
                "Cache-Control": no_store,
            },
        ),
        "400": OpenAPIResponse(
            description="Link not completed (invalid_state, state_already_used, state_expired): an HTML page saying so",
            content={"text/html": OpenAPIMediaType(schema=_string())},
            headers={"Cache-Control": no_store},
        ),
        "422": _problem("provider_not_configured: the provider has no client id and secret on this Hub"),
    }


def _metrics() -> dict[str, OpenAPIResponse]:
    return {
        "200": OpenAPIResponse(
            description="Prometheus text exposition format",
            content={CONTENT_TYPE_LATEST: OpenAPIMediaType(schema=_string())},
        )
    }


_OUTSIDE_ROUTES = {
    ("/webhooks/{provider}", "post"): _provider_webhook,
    ("/oauth/{provider}/callback", "get"): _oauth_callback,
    ("/metrics", "get"): _metrics,
}


def describe_outside_routes(app: Litestar) -> None:
    """Document what the provider-facing routes and ``/metrics`` really answer; none needs an API key."""
    openapi = app.openapi_schema
    for (path, method), responses in _OUTSIDE_ROUTES.items():
        item = (openapi.paths or {}).get(path)
        operation = getattr(item, method, None) if item is not None else None
        if operation is None:
            continue
        operation.responses = responses()
        operation.security = []
