"""Alembic environment: runs migrations on the connection of Hub's write engine."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from hub.db.tables import Base

config = context.config
database = config.attributes["database"]


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=database.is_sqlite,
        compare_type=True,
    )
    with context.begin_transaction():
        if not database.is_sqlite:
            # Several processes may start at once (API replicas, workers): migrate one at a time.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7310452)")
        context.run_migrations()
        if database.is_sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration left rows whose references are missing: {broken[:5]}")
    connection.commit()


with database.write_engine.connect() as connection:
    if not database.is_sqlite:
        _migrate(connection)
    else:
        # A batch migration copies a table and drops the old one; with foreign keys on, SQLite
        # refuses that drop while other tables' rows refer to it. Off for the migration (set
        # outside its transaction, where SQLite honours it), checked after it, and on again
        # whatever happened: the connection goes back to the pool.
        sqlite = connection.connection.driver_connection
        sqlite.execute("PRAGMA foreign_keys=OFF")
        try:
            _migrate(connection)
        finally:
            connection.rollback()  # nothing is open after a commit; after a failure, end it first
            sqlite.execute("PRAGMA foreign_keys=ON")
