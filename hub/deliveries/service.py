"""Webhook endpoints and their deliveries: what the API does, testable without HTTP.

An endpoint's signing secret is generated here, returned once in the create answer, and
stored only encrypted (associated data: the endpoint id). Deleting an endpoint is a soft
delete: it disappears from the API (404 afterwards) and receives nothing more, while its
deliveries stay in the database. Another organization's ids answer 404.
"""

from __future__ import annotations

import contextlib
from typing import Any

import msgspec
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.auth import audit
from hub.auth.principal import Principal
from hub.clock import utcnow
from hub.crypto import Keyring
from hub.db import Database
from hub.db.tables import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from hub.deliveries import _ledger as ledger
from hub.deliveries import signing, urls
from hub.deliveries.jobs import enqueue_attempt
from hub.deliveries.schemas import (
    WebhookAttemptOut,
    WebhookDeliveryOut,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointOut,
)
from hub.errors import Conflict, FieldError, NotFound
from hub.idempotency import Finish, no_finish
from hub.ids import is_valid, new_id
from hub.pagination import Page, page_by_id


def endpoint_out(endpoint: WebhookEndpoint) -> WebhookEndpointOut:
    return msgspec.convert(endpoint, WebhookEndpointOut, from_attributes=True)


def delivery_out(delivery: WebhookDelivery, attempts: list[WebhookAttempt]) -> WebhookDeliveryOut:
    return WebhookDeliveryOut(
        id=delivery.id,
        endpoint_id=delivery.endpoint_id,
        event_type=delivery.event_type,
        status=delivery.status,
        attempt_count=delivery.attempt_count,
        next_attempt_at=delivery.next_attempt_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
        attempts=msgspec.convert(attempts, list[WebhookAttemptOut], from_attributes=True),
    )


def create_endpoint(
    db: Database,
    keyring: Keyring,
    principal: Principal,
    data: WebhookEndpointCreate,
    *,
    allow_private: bool,
    finish: Finish = no_finish,
) -> WebhookEndpointCreated:
    """Validate the URL (refusing private addresses unless allowed) and store a new endpoint."""
    try:
        url = urls.check(data.url, allow_private=allow_private)
    except urls.UrlNotAllowed as exc:
        raise FieldError("url", str(exc), code=exc.code, title="Webhook URL not allowed") from None
    except urls.UrlError as exc:
        raise FieldError("url", str(exc)) from None
    endpoint_id = new_id("webhook_endpoint")
    secret = signing.generate_secret()
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        organization_id=principal.organization_id,
        url=url,
        description=data.description,
        events=sorted(set(data.events)),
        secret_ciphertext=keyring.encrypt(secret.encode(), endpoint_id),
        status="enabled",
        disabled_reason=None,
        disabled_at=None,
        failing_since=None,
        created_at=utcnow(),
        deleted_at=None,
    )
    out = endpoint_out(endpoint)
    created = WebhookEndpointCreated(
        secret=secret, **{f: getattr(out, f) for f in WebhookEndpointOut.__struct_fields__ if f != "object"}
    )
    with finish.write(db) as session:
        session.add(endpoint)
        _audit(session, principal, "webhook_endpoint.created", endpoint, {"events": endpoint.events})
        finish(session, 201, created)
    return created


def load_endpoint(session: Session, organization_id: str, endpoint_id: str) -> WebhookEndpoint:
    """The organization's endpoint with ``endpoint_id``, or 404 (deleted and foreign ones too)."""
    endpoint = session.get(WebhookEndpoint, endpoint_id) if is_valid(endpoint_id, "webhook_endpoint") else None
    if endpoint is None or endpoint.organization_id != organization_id or endpoint.deleted_at is not None:
        raise NotFound(f"No webhook endpoint with id {endpoint_id!r} exists in this organization.")
    return endpoint


def get_endpoint(db: Database, principal: Principal, endpoint_id: str) -> WebhookEndpointOut:
    with db.read() as session:
        return endpoint_out(load_endpoint(session, principal.organization_id, endpoint_id))


def list_endpoints(db: Database, principal: Principal, limit: int, cursor: str | None) -> Page[WebhookEndpointOut]:
    """Oldest first; deleted endpoints are left out."""
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.organization_id == principal.organization_id, WebhookEndpoint.deleted_at.is_(None)
    )
    with db.read() as session:
        rows, next_cursor = page_by_id(session, query, WebhookEndpoint.id, limit, cursor)
    return Page(data=[endpoint_out(e) for e in rows], next_cursor=next_cursor)


def delete_endpoint(db: Database, principal: Principal, endpoint_id: str) -> WebhookEndpointOut:
    """Soft delete; answers the endpoint as it is now (with ``deleted_at``)."""
    with db.write() as session:
        endpoint = load_endpoint(session, principal.organization_id, endpoint_id)
        endpoint.deleted_at = utcnow()
        _audit(session, principal, "webhook_endpoint.deleted", endpoint)
        return endpoint_out(endpoint)


def enable_endpoint(db: Database, principal: Principal, endpoint_id: str) -> WebhookEndpointOut:
    """Turn a disabled endpoint back on and forget its failing streak; enabled ones are unchanged."""
    with db.write() as session:
        endpoint = load_endpoint(session, principal.organization_id, endpoint_id)
        if endpoint.status != "enabled":
            previous = endpoint.disabled_reason
            endpoint.status, endpoint.disabled_reason, endpoint.disabled_at = "enabled", None, None
            endpoint.failing_since = None
            _audit(session, principal, "webhook_endpoint.enabled", endpoint, {"disabled_reason": previous})
        return endpoint_out(endpoint)


def list_deliveries(
    db: Database, principal: Principal, endpoint_id: str, limit: int, cursor: str | None
) -> Page[WebhookDeliveryOut]:
    """Newest first, each with its attempts in order."""
    with db.read() as session:
        load_endpoint(session, principal.organization_id, endpoint_id)
        query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
        page, next_cursor = page_by_id(session, query, WebhookDelivery.id, limit, cursor, newest_first=True)
        attempts = _attempts_of(session, [d.id for d in page])
    return Page(data=[delivery_out(d, attempts.get(d.id, [])) for d in page], next_cursor=next_cursor)


def _attempts_of(session: Session, delivery_ids: list[str]) -> dict[str, list[WebhookAttempt]]:
    found: dict[str, list[WebhookAttempt]] = {}
    if delivery_ids:
        query = (
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(delivery_ids))
            .order_by(WebhookAttempt.delivery_id, WebhookAttempt.attempt_number, WebhookAttempt.id)
        )
        for attempt in session.scalars(query):
            found.setdefault(attempt.delivery_id, []).append(attempt)
    return found


def _load_delivery(session: Session, organization_id: str, delivery_id: str) -> WebhookDelivery:
    """The delivery with ``delivery_id`` of a live endpoint of the organization, or 404."""
    delivery = session.get(WebhookDelivery, delivery_id) if is_valid(delivery_id, "webhook_delivery") else None
    if delivery is None or delivery.organization_id != organization_id:
        raise NotFound(f"No webhook delivery with id {delivery_id!r} exists in this organization.")
    endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint is None or endpoint.deleted_at is not None:
        raise NotFound(f"No webhook delivery with id {delivery_id!r} exists in this organization.")
    return delivery


def get_delivery(db: Database, principal: Principal, delivery_id: str) -> WebhookDeliveryOut:
    with db.read() as session:
        delivery = _load_delivery(session, principal.organization_id, delivery_id)
        return delivery_out(delivery, _attempts_of(session, [delivery.id]).get(delivery.id, []))


def retry_delivery(db: Database, connection: redis.Redis, principal: Principal, delivery_id: str) -> WebhookDeliveryOut:
    """Queue an attempt now, whatever the delivery's state (a succeeded one is sent again).

    The automatic schedule continues after it while attempts remain; after the last scheduled
    attempt a manual retry is a single attempt. A disabled endpoint answers 409
    ``webhook_endpoint_disabled``: enable it first.
    """
    with db.write() as session:
        delivery = _load_delivery(session, principal.organization_id, delivery_id)
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        assert endpoint is not None
        if endpoint.status != "enabled":
            raise Conflict(
                f"Webhook endpoint {endpoint.id} is disabled ({endpoint.disabled_reason or 'no reason recorded'}). "
                f"Enable it with POST /v1/webhook-endpoints/{endpoint.id}/enable, then retry.",
                code="webhook_endpoint_disabled",
                title="Webhook endpoint disabled",
            )
        number = ledger.reopen(session, delivery)
        out = delivery_out(delivery, _attempts_of(session, [delivery.id]).get(delivery.id, []))
    with contextlib.suppress(redis.RedisError):  # the delivery sweep sends it once Redis is back
        enqueue_attempt(connection, delivery_id, number, reason="retry")  # carries this request's id
    return out


def _audit(
    session: Session, principal: Principal, action: str, endpoint: WebhookEndpoint, data: dict[str, Any] | None = None
) -> None:
    audit.record(
        session,
        organization_id=endpoint.organization_id,
        action=action,
        actor_key_id=principal.key_id,
        target_type="webhook_endpoint",
        target_id=endpoint.id,
        data=data,
    )
