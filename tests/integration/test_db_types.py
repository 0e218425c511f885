"""The column types and SQL helpers that must answer the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import literal, select

from hub.db import Database
from hub.db.types import UTCDateTime, epoch_seconds

INSTANTS = [
    datetime(2026, 12, 7, 9, 0, tzinfo=UTC),
    datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC),  # a fraction of a second is dropped
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(2099, 12, 31, 23, 59, 1, 500_000, tzinfo=UTC),
]


@pytest.mark.parametrize("instant", INSTANTS, ids=[i.isoformat() for i in INSTANTS])
def test_epoch_seconds_are_the_instants_whole_epoch_seconds(db: Database, instant: datetime) -> None:
    with db.read() as session:
        seconds = session.scalar(select(epoch_seconds(literal(instant, UTCDateTime()))))
    assert seconds == int(instant.timestamp())
    assert isinstance(seconds, int)
