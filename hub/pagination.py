"""Cursor pagination: opaque cursors carrying the sort key of the last item of a page."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any, Generic, TypeVar

import msgspec
from sqlalchemy import Select
from sqlalchemy.orm import Session

from hub.errors import FieldError
from hub.times import supported_instant

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Page(msgspec.Struct, Generic[T]):
    data: list[T]
    next_cursor: str | None
    object: str = "list"


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(values)).decode().rstrip("=")


NOT_OURS = "is not a cursor returned by this list; start again without `cursor`"


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The values encoded in ``cursor``; a 422 naming the ``cursor`` parameter if it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = msgspec.json.decode(raw)
    except (binascii.Error, ValueError, RecursionError, msgspec.DecodeError):
        values = None
    if (
        not isinstance(values, list)
        or len(values) != arity
        or not all(isinstance(v, str) and "\x00" not in v for v in values)  # PostgreSQL refuses NUL
    ):
        raise FieldError("cursor", NOT_OURS)
    return values


def encode_time_cursor(at: datetime, row_id: str) -> str:
    """The cursor after a row of a list sorted by a time, then by id."""
    return encode_cursor([at.isoformat(), row_id])


def decode_time_cursor(cursor: str) -> tuple[datetime, str]:
    """The ``(time, id)`` in a cursor of ``encode_time_cursor``: a 422 naming ``cursor`` if it is
    not ours, including a time without offset or outside the supported range (``hub.times``)."""
    text, row_id = decode_cursor(cursor, 2)
    try:
        at = supported_instant(datetime.fromisoformat(text), field="cursor")
    except (ValueError, FieldError):
        raise FieldError("cursor", NOT_OURS) from None
    return at, row_id


def page_by_id(
    session: Session, query: Select[Any], id_column: Any, limit: int, cursor: str | None, *, newest_first: bool = False
) -> tuple[list[Any], str | None]:
    """One page of ``query`` ordered by its (time-ordered) id column, and the next cursor."""
    if cursor:
        (last,) = decode_cursor(cursor, 1)
        query = query.where(id_column < last if newest_first else id_column > last)
    order = id_column.desc() if newest_first else id_column
    rows = list(session.scalars(query.order_by(order).limit(limit + 1)))
    next_cursor = encode_cursor([rows[limit - 1].id]) if len(rows) > limit else None
    return rows[:limit], next_cursor
