"""``/v1/users``: host profiles."""

from __future__ import annotations

from litestar import Controller, Response, get, patch, post

from hub.auth.principal import Principal
from hub.auth.scopes import needs
from hub.crypto import Keyring
from hub.db import Database
from hub.pagination import DEFAULT_LIMIT, Page
from hub.users import service
from hub.users.schemas import UserCreate, UserOut, UserUpdate
from hub.web import ApiRequest, IdempotencyKeyHeader, Limit, run_idempotent


class UserController(Controller):
    path = "/v1/users"
    tags = ["Users"]

    @post(sync_to_thread=True, opt=needs("users.write"), status_code=201, summary="Create a user")
    def create(
        self,
        request: ApiRequest,
        db: Database,
        keyring: Keyring,
        data: UserCreate,
        body: bytes,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[UserOut]:
        principal: Principal = request.user

        return run_idempotent(
            request, db, keyring, idempotency_key, body, lambda finish: service.create_user(db, principal, data, finish)
        )

    @get("/{user_id:str}", sync_to_thread=True, opt=needs("users.read"), summary="Get a user")
    def retrieve(self, request: ApiRequest, db: Database, user_id: str) -> UserOut:
        return service.get_user(db, request.user, user_id)

    @patch("/{user_id:str}", sync_to_thread=True, opt=needs("users.write"), summary="Update a user")
    def update(self, request: ApiRequest, db: Database, user_id: str, data: UserUpdate) -> UserOut:
        return service.update_user(db, request.user, user_id, data)

    @get(sync_to_thread=True, opt=needs("users.read"), summary="List users")
    def list(
        self, request: ApiRequest, db: Database, limit: Limit = DEFAULT_LIMIT, cursor: str | None = None
    ) -> Page[UserOut]:
        return service.list_users(db, request.user, limit, cursor)
