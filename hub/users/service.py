"""User profiles: the hosts whose time is booked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import msgspec
from sqlalchemy import Table, bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from hub.auth.principal import Principal
from hub.availability import WorkingRange, parse_working_hours, stored_working_hours
from hub.clock import utcnow
from hub.db import Database
from hub.db.tables import User
from hub.errors import NotFound
from hub.idempotency import Finish, no_finish
from hub.ids import is_valid, new_id
from hub.pagination import Page, page_by_id
from hub.times import load_zone
from hub.users.schemas import UserCreate, UserOut, UserUpdate, WorkingHours


class HostProfile(msgspec.Struct, frozen=True):
    """What booking and availability read of a user: when and how the user can be booked."""

    id: str
    timezone: str
    working_hours: list[dict[str, Any]]
    buffer_minutes: int
    minimum_notice_minutes: int
    busy_version: int = 0  # ``users.busy_version`` as read: it changes whenever the busy time may have

    def ranges(self) -> tuple[WorkingRange, ...]:
        """The working hours as the engine takes them."""
        return stored_working_hours(tuple((h["weekday"], h["start"], h["end"]) for h in self.working_hours))


# Built once, over the table's columns (plain rows, no ORM objects): every booking, hold and
# availability request reads its hosts' profiles.
_users = cast(Table, User.__table__)
_PROFILES = select(
    _users.c.id,
    _users.c.timezone,
    _users.c.working_hours,
    _users.c.buffer_minutes,
    _users.c.minimum_notice_minutes,
    _users.c.busy_version,
).where(_users.c.organization_id == bindparam("organization_id"), _users.c.id.in_(bindparam("ids", expanding=True)))


def load_profiles(
    session: Session | Connection, organization_id: str, ids: Sequence[str], *, field: str = "user"
) -> list[HostProfile]:
    """The profiles of the users ``ids``, in that order; 404 for the first that is not a user of
    the organization (another organization's id included)."""
    wanted = [user_id for user_id in ids if is_valid(user_id, "user")]
    rows = session.execute(_PROFILES, {"organization_id": organization_id, "ids": wanted}).all() if wanted else []
    found = {row[0]: HostProfile(*row) for row in rows}
    missing = next((user_id for user_id in ids if user_id not in found), None)
    if missing is not None:
        raise NotFound(f"No {field} with id {missing!r} exists in this organization.")
    return [found[user_id] for user_id in ids]


def to_out(user: User) -> UserOut:
    return msgspec.convert(user, UserOut, from_attributes=True)


def _checked_hours(items: list[WorkingHours]) -> list[dict[str, Any]]:
    parse_working_hours([(item.weekday, item.start, item.end) for item in items])
    return [msgspec.structs.asdict(item) for item in items]


def create_user(db: Database, principal: Principal, data: UserCreate, finish: Finish = no_finish) -> UserOut:
    load_zone(data.timezone)
    hours = _checked_hours(data.working_hours)
    now = utcnow()
    user = User(
        id=new_id("user"),
        organization_id=principal.organization_id,
        name=data.name,
        email=data.email,
        timezone=data.timezone,
        working_hours=hours,
        buffer_minutes=data.buffer_minutes,
        minimum_notice_minutes=data.minimum_notice_minutes,
        created_at=now,
        updated_at=now,
    )
    out = to_out(user)
    with finish.write(db) as session:
        session.add(user)
        finish(session, 201, out)
    return out


def load_user(session: Any, organization_id: str, user_id: str, *, field: str = "user") -> User:
    """The user with ``user_id`` in the organization, or 404 (another organization's id included)."""
    user: User | None = session.get(User, user_id) if is_valid(user_id, "user") else None
    if user is None or user.organization_id != organization_id:
        raise NotFound(f"No {field} with id {user_id!r} exists in this organization.")
    return user


def get_user(db: Database, principal: Principal, user_id: str) -> UserOut:
    with db.read() as session:
        return to_out(load_user(session, principal.organization_id, user_id))


def update_user(db: Database, principal: Principal, user_id: str, data: UserUpdate) -> UserOut:
    if data.timezone is not msgspec.UNSET:
        load_zone(data.timezone)
    hours = _checked_hours(data.working_hours) if data.working_hours is not msgspec.UNSET else None
    with db.write() as session:
        user = load_user(session, principal.organization_id, user_id)
        for name in ("name", "email", "timezone", "buffer_minutes", "minimum_notice_minutes"):
            value = getattr(data, name)
            if value is not msgspec.UNSET:
                setattr(user, name, value)
        if hours is not None:
            user.working_hours = hours
        user.updated_at = utcnow()
        return to_out(user)


def list_users(db: Database, principal: Principal, limit: int, cursor: str | None) -> Page[UserOut]:
    query = select(User).where(User.organization_id == principal.organization_id)
    with db.read() as session:
        rows, next_cursor = page_by_id(session, query, User.id, limit, cursor)
    return Page(data=[to_out(u) for u in rows], next_cursor=next_cursor)
