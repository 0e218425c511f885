"""``/v1/booking-series``: read and cancel recurring bookings (created by ``POST /v1/bookings``
with ``recurrence``)."""

from __future__ import annotations

from litestar import Controller, Response, get, post

from hub.auth.scopes import needs
from hub.crypto import Keyring
from hub.db import Database
from hub.series import service
from hub.series.schemas import SeriesCancel, SeriesOut
from hub.web import ApiRequest, IdempotencyKeyHeader, run_idempotent


class BookingSeriesController(Controller):
    path = "/v1/booking-series"
    tags = ["Bookings"]

    @get("/{series_id:str}", sync_to_thread=True, opt=needs("bookings.read"), summary="Get a booking series")
    def retrieve(self, request: ApiRequest, db: Database, series_id: str) -> SeriesOut:
        return service.get_series(db, request.user, series_id)

    @post(
        "/{series_id:str}/cancel",
        sync_to_thread=True,
        opt=needs("bookings.write"),
        status_code=200,
        summary="Cancel a booking series (all or following occurrences)",
    )
    def cancel(
        self,
        request: ApiRequest,
        db: Database,
        keyring: Keyring,
        series_id: str,
        body: bytes,
        data: SeriesCancel | None = None,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[SeriesOut]:
        principal = request.user
        return run_idempotent(
            request,
            db,
            keyring,
            idempotency_key,
            body,
            lambda finish: service.cancel_series(db, principal, series_id, data or SeriesCancel(), finish),
        )
