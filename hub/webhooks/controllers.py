"""``POST /webhooks/{provider}``: provider change notifications (Google channels, Graph
subscriptions). Answers within milliseconds: Graph wants a 2xx within 3 seconds.

Only a provider the operator configured (client id and secret) has an intake: for any other the
route answers 404 before parsing anything, so an instance without Microsoft answers no
validation handshake. Every answer of the route itself is ``text/plain`` with
``X-Content-Type-Options: nosniff`` (Graph's handshake echoes a caller-chosen token)."""

from __future__ import annotations

from typing import Any, Final

from litestar import Request, Response, post

from hub.connectors import CALENDAR_PROVIDERS, REGISTRY, Connectors, WebhookAnswer, spec
from hub.errors import ApiError, NotFound
from hub.webhooks.service import INTAKE, MAX_NOTIFICATIONS, accept, lower_headers

NOSNIFF: Final = {"X-Content-Type-Options": "nosniff"}


def _plain(body: str, status: int) -> Response[Any]:
    return Response(body, status_code=status, media_type="text/plain", headers=NOSNIFF)


@post(
    "/webhooks/{provider:str}",
    sync_to_thread=True,
    tags=["Webhooks"],
    status_code=200,
    summary="Provider change notifications (no API key: verified per channel)",
)
def provider_webhook(
    request: Request[Any, Any, Any], connectors: Connectors, provider: str, body: bytes
) -> Response[Any]:
    if provider not in CALENDAR_PROVIDERS or provider not in REGISTRY:
        raise NotFound(f"No webhook intake for provider {provider!r}.")
    state = request.app.state
    if not spec(provider).configured(state.settings):
        raise NotFound(f"No webhook intake for provider {provider!r}: it is not configured on this Hub.")
    connector = connectors.get(provider)
    if connector.push is None:
        raise NotFound(f"No webhook intake for provider {provider!r}: it has no push notifications.")
    parsed = connector.push.parse(lower_headers(dict(request.headers)), dict(request.query_params), body)
    if isinstance(parsed, WebhookAnswer):
        INTAKE.labels(provider, "handshake" if parsed.status < 300 else "malformed").inc()
        return Response(parsed.body, status_code=parsed.status, media_type=parsed.media_type, headers=NOSNIFF)
    if len(parsed) > MAX_NOTIFICATIONS:
        INTAKE.labels(provider, "malformed").inc()
        raise ApiError(
            f"One request carries at most {MAX_NOTIFICATIONS} notifications; this one has {len(parsed)}.",
            code="payload_too_large",
            status=413,
            title="Payload too large",
        )
    counts = accept(state.db, state.redis, provider, parsed)
    if parsed and counts["rejected"] == len(parsed):
        return _plain("", 403)
    return _plain("", connector.ack_status)
