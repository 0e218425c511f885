"""``POST /webhooks/{provider}``: provider change notifications (Google channels, Graph
subscriptions). Answers within milliseconds: Graph wants a 2xx within 3 seconds."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post

from hub.connectors import CALENDAR_PROVIDERS, REGISTRY, WebhookAnswer, spec
from hub.errors import NotFound
from hub.webhooks.service import INTAKE, accept, lower_headers


@post(
    "/webhooks/{provider:str}",
    sync_to_thread=True,
    tags=["Webhooks"],
    status_code=200,
    summary="Provider change notifications (no API key: verified per channel)",
)
def provider_webhook(request: Request[Any, Any, Any], provider: str, body: bytes) -> Response[Any]:
    if provider not in CALENDAR_PROVIDERS or provider not in REGISTRY:
        raise NotFound(f"No webhook intake for provider {provider!r}.")
    state = request.app.state
    connectors = state.connectors
    if provider not in connectors:
        connectors[provider] = spec(provider).build(state.settings)
    connector = connectors[provider]
    parsed = connector.push.parse(lower_headers(dict(request.headers)), dict(request.query_params), body)
    if isinstance(parsed, WebhookAnswer):
        INTAKE.labels(provider, "handshake" if parsed.status < 300 else "malformed").inc()
        return Response(parsed.body, status_code=parsed.status, media_type=parsed.media_type)
    counts = accept(state.db, state.redis, provider, parsed)
    if parsed and counts["rejected"] == len(parsed):
        return Response("", status_code=403, media_type="text/plain")
    return Response("", status_code=connector.ack_status, media_type="text/plain")
