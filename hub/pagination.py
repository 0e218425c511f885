"""Cursor pagination: opaque cursors carrying the sort key of the last item of a page."""

from __future__ import annotations

import base64
import binascii
from typing import Any, Generic, TypeVar

import msgspec
from sqlalchemy import Select
from sqlalchemy.orm import Session

from hub.errors import FieldError

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Page(msgspec.Struct, Generic[T]):
    data: list[T]
    next_cursor: str | None
    object: str = "list"


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(values)).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The values encoded in ``cursor``; a 422 naming the ``cursor`` parameter if it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = msgspec.json.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        values = None
    if not isinstance(values, list) or len(values) != arity or not all(isinstance(v, str) for v in values):
        raise FieldError("cursor", "is not a cursor returned by this list; start again without `cursor`")
    return values


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
