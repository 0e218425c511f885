"""``/v1/bookings``: create, read, list, reschedule and cancel bookings (one host or a team)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from litestar import Controller, Response, get, post
from litestar.params import Parameter

from hub.auth.scopes import needs
from hub.bookings import service
from hub.bookings.schemas import BookingCancel, BookingCreate, BookingOut, BookingReschedule
from hub.crypto import Keyring
from hub.db import Database
from hub.pagination import DEFAULT_LIMIT, Page
from hub.series import service as series
from hub.web import ApiRequest, IdempotencyKeyHeader, Limit, run_idempotent

Expand = Annotated[
    str | None,
    Parameter(description="Related objects to include, comma-separated: `hosts` (the hosts' user objects)."),
]


class BookingController(Controller):
    path = "/v1/bookings"
    tags = ["Bookings"]

    @post(opt=needs("bookings.write"), status_code=201, summary="Create a booking")
    async def create(
        self,
        request: ApiRequest,
        db: Database,
        keyring: Keyring,
        data: BookingCreate,
        body: bytes,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[BookingOut]:
        principal = request.user
        return await db.run(
            run_idempotent,
            request,
            db,
            keyring,
            idempotency_key,
            body,
            lambda finish: (
                series.create_series(db, principal, data, finish)
                if data.recurrence is not None
                else service.create_booking(db, principal, data, finish)
            ),
        )

    @get("/{booking_id:str}", opt=needs("bookings.read"), summary="Get a booking")
    async def retrieve(self, request: ApiRequest, db: Database, booking_id: str, expand: Expand = None) -> BookingOut:
        return await db.run(service.get_booking, db, request.user, booking_id, service.parse_expand(expand))

    @get(opt=needs("bookings.read"), summary="List bookings")
    async def list(
        self,
        request: ApiRequest,
        db: Database,
        limit: Limit = DEFAULT_LIMIT,
        cursor: str | None = None,
        host_id: str | None = None,
        status: Literal["confirmed", "cancelled"] | None = None,
        start_after: datetime | None = None,
        start_before: datetime | None = None,
        expand: Expand = None,
    ) -> Page[BookingOut]:
        return await db.run(
            service.list_bookings,
            db,
            request.user,
            limit=limit,
            cursor=cursor,
            host_id=host_id,
            status=status,
            start_after=start_after,
            start_before=start_before,
            expand=service.parse_expand(expand),
        )

    @post(
        "/{booking_id:str}/reschedule",
        opt=needs("bookings.write"),
        status_code=200,
        summary="Reschedule a booking",
    )
    async def reschedule(
        self,
        request: ApiRequest,
        db: Database,
        keyring: Keyring,
        booking_id: str,
        data: BookingReschedule,
        body: bytes,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[BookingOut]:
        principal = request.user
        return await db.run(
            run_idempotent,
            request,
            db,
            keyring,
            idempotency_key,
            body,
            lambda finish: service.reschedule_booking(db, principal, booking_id, data, finish),
        )

    @post(
        "/{booking_id:str}/cancel",
        opt=needs("bookings.write"),
        status_code=200,
        summary="Cancel a booking",
    )
    async def cancel(
        self, request: ApiRequest, db: Database, booking_id: str, data: BookingCancel | None = None
    ) -> BookingOut:
        return await db.run(service.cancel_booking, db, request.user, booking_id, data or BookingCancel())
