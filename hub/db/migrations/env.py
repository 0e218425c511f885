"""Alembic environment: runs migrations on the connection of Hub's write engine."""

from __future__ import annotations

from alembic import context

from hub.db.tables import Base

config = context.config
database = config.attributes["database"]

with database.write_engine.connect() as connection:
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
    connection.commit()
