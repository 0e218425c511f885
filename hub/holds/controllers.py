"""``/v1/holds``: hold, read and release temporary reservations."""

from __future__ import annotations

from litestar import Controller, Response, delete, get, post

from hub.auth.scopes import needs
from hub.crypto import Keyring
from hub.db import Database
from hub.holds import service
from hub.holds.schemas import HoldCreate, HoldOut
from hub.web import ApiRequest, IdempotencyKeyHeader, run_idempotent


class HoldController(Controller):
    path = "/v1/holds"
    tags = ["Holds"]

    @post(opt=needs("bookings.write"), status_code=201, summary="Hold a host's time")
    async def create(
        self,
        request: ApiRequest,
        db: Database,
        keyring: Keyring,
        data: HoldCreate,
        body: bytes,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[HoldOut]:
        principal = request.user
        return await db.run(
            run_idempotent,
            request,
            db,
            keyring,
            idempotency_key,
            body,
            lambda finish: service.create_hold(db, principal, data, finish),
        )

    @get("/{hold_id:str}", opt=needs("bookings.read"), summary="Get a hold")
    async def retrieve(self, request: ApiRequest, db: Database, hold_id: str) -> HoldOut:
        return await db.run(service.get_hold, db, request.user, hold_id)

    @delete("/{hold_id:str}", opt=needs("bookings.write"), status_code=200, summary="Release a hold")
    async def release(self, request: ApiRequest, db: Database, hold_id: str) -> HoldOut:
        return await db.run(service.release_hold, db, request.user, hold_id)
