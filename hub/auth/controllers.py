"""``/v1/api-keys`` and ``/v1/audit-events``."""

from __future__ import annotations

from litestar import Controller, Response, get, post

from hub.auth import service
from hub.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, AuditEventOut
from hub.auth.scopes import needs
from hub.crypto import Keyring
from hub.db import Database
from hub.pagination import DEFAULT_LIMIT, Page
from hub.web import ApiRequest, IdempotencyKeyHeader, Limit, run_idempotent


class ApiKeyController(Controller):
    path = "/v1/api-keys"
    tags = ["API keys"]

    @post(
        sync_to_thread=True,
        opt=needs("keys.manage"),
        status_code=201,
        summary="Create an API key (the secret is shown once)",
    )
    def create(
        self,
        request: ApiRequest,
        db: Database,
        keyring: Keyring,
        data: ApiKeyCreate,
        body: bytes,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[ApiKeyCreated]:
        principal = request.user
        return run_idempotent(
            request, db, keyring, idempotency_key, body, lambda finish: service.create_key(db, principal, data, finish)
        )

    @get(sync_to_thread=True, opt=needs("keys.manage"), summary="List API keys (never the secrets)")
    def list(
        self, request: ApiRequest, db: Database, limit: Limit = DEFAULT_LIMIT, cursor: str | None = None
    ) -> Page[ApiKeyOut]:
        return service.list_keys(db, request.user, limit, cursor)

    @post(
        "/{key_id:str}/revoke",
        sync_to_thread=True,
        opt=needs("keys.manage"),
        status_code=200,
        summary="Revoke an API key",
    )
    def revoke(self, request: ApiRequest, db: Database, key_id: str) -> ApiKeyOut:
        revoked = service.revoke_key(db, request.user, key_id)
        request.app.state.principals.forget(revoked.id)  # refused from the next request on
        return revoked


class AuditController(Controller):
    path = "/v1/audit-events"
    tags = ["Audit"]

    @get(sync_to_thread=True, opt=needs("audit.read"), summary="List audit events, newest first")
    def list(
        self, request: ApiRequest, db: Database, limit: Limit = DEFAULT_LIMIT, cursor: str | None = None
    ) -> Page[AuditEventOut]:
        return service.list_audit_events(db, request.user, limit, cursor)
