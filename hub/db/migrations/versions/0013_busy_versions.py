"""busy versions: every user's ``busy_version``, raised by the database whenever the user's busy
time may have changed

A user's busy time (``hub.availability.busy``) is read from confirmed bookings
(``booking_hosts``), live holds (``holds`` + ``hold_hosts``) and the events of linked calendars
(``external_events``, through ``calendars`` and ``connections``). A trigger on each of those
tables raises ``users.busy_version`` of every user a written row belongs to, in the same
transaction as the write, so an availability answer remembered under a version
(``hub.availability.cache``) is never served once the data under it changed, whichever process or
code path wrote it. Updates only count when they touch a column the busy query reads.

On SQLite the triggers are per row. On PostgreSQL inserts and deletes of ``external_events``
(a full resync replaces thousands of rows) raise each user once per statement, through a
transition table; the rest are per row, since PostgreSQL allows no column list on a trigger
with a transition table. A later migration that rebuilds one of these tables on SQLite (a batch
copy) drops its triggers with it and must create them again (``create_triggers``).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-20 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_BUMP = "UPDATE users SET busy_version = busy_version + 1 WHERE id IN "


# (table, the columns an update must touch to count, the users of a row as SQL over ``{row}``
# (OLD or NEW)).
_SOURCES = (
    ("booking_hosts", "host_id, status, start_at, end_at", "({row}.host_id)"),
    ("hold_hosts", "host_id, hold_id", "({row}.host_id)"),
    ("holds", "status, start_at, end_at, expires_at", "(SELECT host_id FROM hold_hosts WHERE hold_id = {row}.id)"),
    ("external_events", "user_id, calendar_id, start_at, end_at", "({row}.user_id)"),
    (
        "calendars",
        "connection_id, busy_source, removed_at",
        "(SELECT user_id FROM connections WHERE id = {row}.connection_id)",
    ),
    ("connections", "user_id, status, provider", "({row}.user_id)"),
)
# Inserts that cannot change anyone's busy time until rows of another source refer to them.
_INSERT_NEEDS_NOTHING = {"holds", "calendars", "connections"}
_STATEMENT_LEVEL = "external_events"  # PostgreSQL: inserts and deletes per statement


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":  # added in place: a batch copy would drop the table
        op.add_column("users", sa.Column("busy_version", sa.Integer(), server_default="0", nullable=False))
    else:
        with op.batch_alter_table("users", schema=None) as batch_op:
            batch_op.add_column(sa.Column("busy_version", sa.Integer(), server_default="0", nullable=False))
    create_triggers()


def downgrade() -> None:
    drop_triggers()
    if op.get_bind().dialect.name == "sqlite":  # SQLite >= 3.35 drops a plain column in place
        op.execute("ALTER TABLE users DROP COLUMN busy_version")
    else:
        with op.batch_alter_table("users", schema=None) as batch_op:
            batch_op.drop_column("busy_version")


def _events(table: str) -> list[tuple[str, str]]:
    """(operation, suffix of the trigger's name) of the writes of ``table`` that count."""
    events = [("UPDATE", "update"), ("DELETE", "delete")]
    return events if table in _INSERT_NEEDS_NOTHING else [("INSERT", "insert"), *events]


def create_triggers() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute(
            "CREATE FUNCTION hub_busy_changed_users() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "UPDATE users SET busy_version = busy_version + 1 WHERE id IN (SELECT DISTINCT user_id FROM changed); "
            "RETURN NULL; END $$"
        )
    for table, columns, users in _SOURCES:
        if postgresql:
            _create_postgresql(table, columns, users)
        else:
            _create_sqlite(table, columns, users)


def _create_sqlite(table: str, columns: str, users: str) -> None:
    for operation, suffix in _events(table):
        rows = {"INSERT": ("NEW",), "UPDATE": ("OLD", "NEW"), "DELETE": ("OLD",)}[operation]
        body = " ".join(f"{_BUMP}{users.format(row=row)};" for row in rows)
        event = f"UPDATE OF {columns}" if operation == "UPDATE" else operation
        op.execute(f"CREATE TRIGGER busy_{table}_{suffix} AFTER {event} ON {table} FOR EACH ROW BEGIN {body} END")


def _create_postgresql(table: str, columns: str, users: str) -> None:
    function = f"hub_busy_{table}"
    steps = (
        f"IF TG_OP <> 'INSERT' THEN {_BUMP}{users.format(row='OLD')}; END IF; "
        f"IF TG_OP <> 'DELETE' THEN {_BUMP}{users.format(row='NEW')}; END IF; "
    )
    op.execute(f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {steps}RETURN NULL; END $$")
    for operation, suffix in _events(table):
        name = f"busy_{table}_{suffix}"
        if table == _STATEMENT_LEVEL and operation != "UPDATE":
            changed = "NEW" if operation == "INSERT" else "OLD"
            op.execute(
                f"CREATE TRIGGER {name} AFTER {operation} ON {table} REFERENCING {changed} TABLE AS changed "
                "FOR EACH STATEMENT EXECUTE FUNCTION hub_busy_changed_users()"
            )
            continue
        event = f"UPDATE OF {columns}" if operation == "UPDATE" else operation
        op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW EXECUTE FUNCTION {function}()")


def drop_triggers() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, _, _ in _SOURCES:
        for _, suffix in _events(table):
            op.execute(f"DROP TRIGGER IF EXISTS busy_{table}_{suffix}" + (f" ON {table}" if postgresql else ""))
        if postgresql:
            op.execute(f"DROP FUNCTION IF EXISTS hub_busy_{table}()")
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS hub_busy_changed_users()")
