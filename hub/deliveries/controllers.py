"""``/v1/webhook-endpoints`` and ``/v1/webhook-deliveries``: where Hub sends client webhooks."""

from __future__ import annotations

from litestar import Controller, Response, delete, get, post

from hub.auth.scopes import needs
from hub.crypto import Keyring
from hub.db import Database
from hub.deliveries import service
from hub.deliveries.schemas import WebhookDeliveryOut, WebhookEndpointCreate, WebhookEndpointCreated, WebhookEndpointOut
from hub.pagination import DEFAULT_LIMIT, Page
from hub.settings import Settings
from hub.web import ApiRequest, IdempotencyKeyHeader, Limit, run_idempotent


class WebhookEndpointController(Controller):
    path = "/v1/webhook-endpoints"
    tags = ["Webhooks"]

    @post(
        sync_to_thread=True,
        opt=needs("webhooks.write"),
        status_code=201,
        summary="Create a webhook endpoint (the signing secret is shown once)",
    )
    def create(
        self,
        request: ApiRequest,
        db: Database,
        keyring: Keyring,
        settings: Settings,
        data: WebhookEndpointCreate,
        body: bytes,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[WebhookEndpointCreated]:
        principal = request.user
        return run_idempotent(
            request,
            db,
            keyring,
            idempotency_key,
            body,
            lambda finish: service.create_endpoint(
                db, keyring, principal, data, allow_private=settings.webhooks_allow_private, finish=finish
            ),
        )

    @get(sync_to_thread=True, opt=needs("webhooks.read"), summary="List webhook endpoints (never the secrets)")
    def list(
        self, request: ApiRequest, db: Database, limit: Limit = DEFAULT_LIMIT, cursor: str | None = None
    ) -> Page[WebhookEndpointOut]:
        return service.list_endpoints(db, request.user, limit, cursor)

    @get("/{endpoint_id:str}", sync_to_thread=True, opt=needs("webhooks.read"), summary="Get a webhook endpoint")
    def retrieve(self, request: ApiRequest, db: Database, endpoint_id: str) -> WebhookEndpointOut:
        return service.get_endpoint(db, request.user, endpoint_id)

    @delete(
        "/{endpoint_id:str}",
        sync_to_thread=True,
        opt=needs("webhooks.write"),
        status_code=200,
        summary="Delete a webhook endpoint (answers it with deleted_at)",
    )
    def remove(self, request: ApiRequest, db: Database, endpoint_id: str) -> WebhookEndpointOut:
        return service.delete_endpoint(db, request.user, endpoint_id)

    @post(
        "/{endpoint_id:str}/enable",
        sync_to_thread=True,
        opt=needs("webhooks.enable"),
        status_code=200,
        summary="Enable a disabled webhook endpoint",
    )
    def enable(self, request: ApiRequest, db: Database, endpoint_id: str) -> WebhookEndpointOut:
        return service.enable_endpoint(db, request.user, endpoint_id)

    @get(
        "/{endpoint_id:str}/deliveries",
        sync_to_thread=True,
        opt=needs("webhooks.read"),
        summary="List an endpoint's deliveries with their attempts, newest first",
    )
    def deliveries(
        self,
        request: ApiRequest,
        db: Database,
        endpoint_id: str,
        limit: Limit = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page[WebhookDeliveryOut]:
        return service.list_deliveries(db, request.user, endpoint_id, limit, cursor)


class WebhookDeliveryController(Controller):
    path = "/v1/webhook-deliveries"
    tags = ["Webhooks"]

    @get("/{delivery_id:str}", sync_to_thread=True, opt=needs("webhooks.read"), summary="Get a webhook delivery")
    def retrieve(self, request: ApiRequest, db: Database, delivery_id: str) -> WebhookDeliveryOut:
        return service.get_delivery(db, request.user, delivery_id)

    @post(
        "/{delivery_id:str}/retry",
        sync_to_thread=True,
        opt=needs("deliveries.retry"),
        status_code=202,
        summary="Send a delivery again now",
    )
    def retry(self, request: ApiRequest, db: Database, delivery_id: str) -> WebhookDeliveryOut:
        return service.retry_delivery(db, request.app.state.redis, request.user, delivery_id)
