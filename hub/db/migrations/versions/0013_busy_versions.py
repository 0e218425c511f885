"""busy versions: every user's ``busy_version``, raised by the database whenever the user's busy
time may have changed

A user's busy time (``hub.availability.busy``) is read from confirmed bookings
(``booking_hosts``), live holds (``holds`` + ``hold_hosts``) and the events of linked calendars
(``external_events``, through ``calendars`` and ``connections``). A trigger on each of those
tables raises ``users.busy_version`` of every user a written row belongs to, in the same
transaction as the write, so an availability answer remembered under a version
(``hub.availability.cache``) is never served once the data under it changed, whichever process or
code path wrote it. Updates only count when they touch a column the busy query reads.

On PostgreSQL the triggers are deferred constraint triggers: they run at commit, so a writer
holds the lock on a ``users`` row only while it commits. Run at the write, a sync that had
raised a user's version and then waited on a booking row (``_readback`` locks it) could deadlock
with a cancellation of that booking that waited on the same ``users`` row. They raise each user
once per transaction (``hub_busy_raise``), not once per row written. On SQLite, where one writer
runs at a time, they run at the write, per row. A later migration that rebuilds one of these
tables on SQLite (a batch copy) drops its triggers with it and must create them again
(``create_triggers``).

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


# (table, the columns an update must touch to count, the users of a row: a SELECT over ``{row}``,
# OLD or NEW).
_SOURCES = (
    ("booking_hosts", "host_id, status, start_at, end_at", "SELECT {row}.host_id"),
    ("hold_hosts", "host_id, hold_id", "SELECT {row}.host_id"),
    ("holds", "status, start_at, end_at, expires_at", "SELECT host_id FROM hold_hosts WHERE hold_id = {row}.id"),
    ("external_events", "user_id, calendar_id, start_at, end_at", "SELECT {row}.user_id"),
    (
        "calendars",
        "connection_id, busy_source, removed_at",
        "SELECT user_id FROM connections WHERE id = {row}.connection_id",
    ),
    ("connections", "user_id, status, provider", "SELECT {row}.user_id"),
)
# PostgreSQL: raises the users ``ids`` not raised yet by this transaction, once each (the list of
# those raised is a setting local to the transaction): a full resync replaces thousands of
# events of one user, and one raise per transaction is as good as one per row.
_RAISE_ONCE = """
CREATE FUNCTION hub_busy_raise(ids text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    raised text := coalesce(current_setting('hub.busy_raised', true), '');
    fresh text[];
BEGIN
    SELECT array_agg(DISTINCT id) INTO fresh FROM unnest(ids) AS id
     WHERE id IS NOT NULL AND strpos(raised, ',' || id || ',') = 0;
    IF fresh IS NOT NULL THEN
        UPDATE users SET busy_version = busy_version + 1 WHERE id = ANY(fresh);
        PERFORM set_config('hub.busy_raised', raised || ',' || array_to_string(fresh, ',,') || ',', true);
    END IF;
END $$
"""
# Inserts that cannot change anyone's busy time until rows of another source refer to them.
_INSERT_NEEDS_NOTHING = {"holds", "calendars", "connections"}


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
        op.execute(_RAISE_ONCE)
    for table, columns, users in _SOURCES:
        if postgresql:
            _create_postgresql(table, columns, users)
        else:
            _create_sqlite(table, columns, users)


def _event(operation: str, columns: str) -> str:
    return f"UPDATE OF {columns}" if operation == "UPDATE" else operation


def _create_sqlite(table: str, columns: str, users: str) -> None:
    for operation, suffix in _events(table):
        rows = {"INSERT": ("NEW",), "UPDATE": ("OLD", "NEW"), "DELETE": ("OLD",)}[operation]
        body = " ".join(f"{_BUMP}({users.format(row=row)});" for row in rows)
        op.execute(
            f"CREATE TRIGGER busy_{table}_{suffix} AFTER {_event(operation, columns)} ON {table} "
            f"FOR EACH ROW BEGIN {body} END"
        )


def _create_postgresql(table: str, columns: str, users: str) -> None:
    steps = (
        f"IF TG_OP <> 'INSERT' THEN PERFORM hub_busy_raise(ARRAY({users.format(row='OLD')})); END IF; "
        f"IF TG_OP <> 'DELETE' THEN PERFORM hub_busy_raise(ARRAY({users.format(row='NEW')})); END IF; "
    )
    op.execute(
        f"CREATE FUNCTION hub_busy_{table}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {steps}RETURN NULL; END $$"
    )
    events = " OR ".join(_event(operation, columns) for operation, _ in _events(table))
    op.execute(
        f"CREATE CONSTRAINT TRIGGER busy_{table} AFTER {events} ON {table} DEFERRABLE INITIALLY DEFERRED "
        f"FOR EACH ROW EXECUTE FUNCTION hub_busy_{table}()"
    )


def drop_triggers() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, _, _ in _SOURCES:
        if postgresql:
            op.execute(f"DROP TRIGGER IF EXISTS busy_{table} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS hub_busy_{table}()")
            continue
        for _, suffix in _events(table):
            op.execute(f"DROP TRIGGER IF EXISTS busy_{table}_{suffix}")
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS hub_busy_raise(text[])")
