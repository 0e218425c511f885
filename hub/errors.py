"""Hub's error taxonomy.

Two families live here:

* ``ApiError`` and its subclasses are answers to API clients. Each carries a stable ``code``
  (the contract in docs/errors.md), an HTTP status and a human sentence telling the integrator
  what to do. They are rendered as RFC 9457 problem+json in exactly one place: the exception
  handlers at the end of this module.
* ``PipelineError`` and its subclasses are sorted by what the job pipeline must do with them:
  retry later (``TransientError``), stop and ask the user to relink (``ReauthRequired``), record
  and stop (``PermanentError``), record and go on (``SkippableError``).
"""

from __future__ import annotations

import re
from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException

from hub.observability.context import REQUEST_ID_HEADER, accept_request_id, request_id_of
from hub.text import MESSAGES


class ApiError(Exception):
    """An error answered to an API client as problem+json."""

    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        status: int | None = None,
        title: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        self.extra = extra or {}
        self.headers = headers or {}


class FieldError(ApiError):
    """422 for one or more invalid fields; ``errors`` lists ``{"field", "message"}``."""

    status = 422
    code = "validation_failed"
    title = "Validation failed"

    def __init__(self, field: str, message: str, *, code: str | None = None, title: str | None = None) -> None:
        super().__init__(
            f"{field}: {message}",
            code=code,
            title=title,
            extra={"errors": [{"field": field, "message": message}]},
        )
        self.field = field


class Unauthenticated(ApiError):
    status = 401
    code = "unauthenticated"
    title = "Authentication required"


class ApiKeyRevoked(ApiError):
    status = 401
    code = "api_key_revoked"
    title = "API key revoked"


class InsufficientScope(ApiError):
    status = 403
    code = "insufficient_scope"
    title = "Insufficient scope"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(ApiError):
    status = 409
    code = "conflict"
    title = "Conflict"


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"


class ServiceUnavailable(ApiError):
    status = 503
    code = "service_unavailable"
    title = "Service unavailable"


# --- the pipeline taxonomy -------------------------------------------------------------------


class PipelineError(Exception):
    """Base of errors raised while talking to the outside world (providers, SMTP, webhooks).

    ``code`` is Hub's own code (the catalogue in docs/errors.md); ``provider_code`` is what the
    other side called it (Google's ``error.errors[0].reason``, Graph's ``error.code``, an OAuth
    ``error``, or ``http_<status>``), kept for support next to Hub's code, never instead of it.
    """

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None, provider_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.provider_code = provider_code


class TransientError(PipelineError):
    """Try again later; ``retry_after`` (seconds) when the other side said when."""

    code = "transient"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        provider_code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code, provider_code=provider_code)
        self.retry_after = retry_after


class ReauthRequired(PipelineError):
    """The grant is gone: mark the connection, tell the client, stop retrying."""

    code = "reauth_required"


class PermanentError(PipelineError):
    """Retrying cannot help: record it and stop."""

    code = "permanent"


class SkippableError(PipelineError):
    """Nothing to do (e.g. deleting an event that is already gone): record and go on."""

    code = "skipped"


# --- the one mapping of errors to RFC 9457 problem+json ----------------------------------------

PROBLEM_TYPE_BASE = "https://hub.example.com/docs/errors#"
PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem_body(
    *, status: int, code: str, title: str, detail: str, request_id: str | None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": request_id,
    }
    body.update(extra or {})
    return body


def problem_of(error: ApiError, request_id: str | None) -> dict[str, Any]:
    """The problem+json body of ``error`` (also what ``Idempotency-Key`` stores for a replay)."""
    return problem_body(
        status=error.status,
        code=error.code,
        title=error.title,
        detail=error.detail,
        request_id=request_id,
        extra=error.extra,
    )


def _problem(request: Request[Any, Any, Any], error: ApiError) -> Response[Any]:
    headers = dict(error.headers)
    request_id = request_id_of(request.scope)
    if request_id is None:
        # Answered before the request-context middleware ran (no route matched the path): the
        # client still gets a request id, in the body and in the header.
        request_id = accept_request_id(request.headers.get(REQUEST_ID_HEADER))
        headers[REQUEST_ID_HEADER] = request_id
    return Response(
        problem_of(error, request_id), status_code=error.status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


_MISSING_FIELD = re.compile(r"Object missing required field `(?P<name>[^`]+)`")
_MISSING_PARAMETER = re.compile(r"Missing required (?P<kind>[a-z]+) parameter '(?P<name>[^']+)'")


def problem_response(request: Request[Any, Any, Any], error: ApiError) -> Response[Any]:
    """The problem+json response for ``error`` (for code that answers outside a route handler)."""
    return _problem(request, error)


def _validation_errors(extra: Any, detail: str = "") -> list[dict[str, str]]:
    errors = []
    for item in extra if isinstance(extra, list) else []:
        key = str(item.get("key", ""))
        message = str(item.get("message", "invalid value"))
        # msgspec reports nested paths as "... - at `$.attendees[0].email`".
        if " - at `$." in message:
            message, _, path = message.partition(" - at `$.")
            key = path.rstrip("`") if key in ("", "data") else f"{key}.{path.rstrip('`')}"
        elif message == "'data'" or (key == "data" and message.startswith("'")):
            message = "a JSON body is required"
        message = _readable_pattern(message)
        missing = _MISSING_FIELD.fullmatch(message)
        if missing:
            # Name the missing field itself, not the object (or the whole body) that lacks it.
            key = missing["name"] if key in ("", "data") else f"{key}.{missing['name']}"
            message = "is required"
        errors.append({"field": "body" if key == "data" else key, "message": message})
    if not errors:
        # Litestar reports a missing query/header/path parameter only in its detail.
        missing = _MISSING_PARAMETER.match(detail)
        if missing:
            errors.append({"field": missing["name"], "message": f"is a required {missing['kind']} parameter"})
    return errors


def _readable_pattern(message: str) -> str:
    """The text rule's own sentence for msgspec's "Expected `str` matching regex '...'" (hub.text)."""
    for pattern, readable in MESSAGES.items():
        if message == f"Expected `str` matching regex {pattern!r}":
            return readable
    return message


def _from_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if isinstance(exc, ValidationException) or (status == 400 and isinstance(exc.extra, list)):
        errors = _validation_errors(exc.extra, str(exc.detail))
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "the request is invalid"
        error = ApiError(
            detail, code="validation_failed", status=422, title="Validation failed", extra={"errors": errors}
        )
    elif status == 400 and isinstance(exc.__cause__, SerializationException):
        error = ApiError(
            f"The request body is not valid JSON ({exc.__cause__}). Send a JSON object with "
            "Content-Type: application/json.",
            code="malformed_json",
            title="Malformed JSON",
        )
    elif status == 413:
        error = ApiError(
            "The request body is larger than this server accepts (64 KiB by default); send a smaller body.",
            code="payload_too_large",
            status=413,
            title="Payload too large",
        )
    elif status == 404:
        error = NotFound("No route matches this path. Check the method and the /v1 prefix.")
    elif status == 405:
        error = ApiError(
            "This path does not accept this method.",
            code="method_not_allowed",
            status=405,
            title="Method not allowed",
            headers=dict(exc.headers or {}),
        )
    elif status in (401, 403):
        error = Unauthenticated(str(exc.detail)) if status == 401 else Forbidden(str(exc.detail))
    else:
        error = ApiError(str(exc.detail), code=f"http_{status}", status=status, title=str(exc.detail))
    return _problem(request, error)


def _from_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    structlog.get_logger("hub.errors").exception("request.failed", error=type(exc).__name__)
    error = ApiError(
        "Hub failed to handle this request. It is safe to retry; quote the request_id if it keeps failing.",
        code="internal_error",
        status=500,
        title="Internal error",
    )
    return _problem(request, error)


exception_handlers: dict[int | type[Exception], Any] = {
    ApiError: _problem,
    HTTPException: _from_http_exception,
    Exception: _from_unexpected,
}
