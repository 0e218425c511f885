"""``Database.run``: which thread runs a request's database work; what a ``read`` session opens
on the server; the Core write transaction ``begin``; and ``pipelined`` (hub.db.engine)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import anyio
import pytest
import structlog
from psycopg.pq import TransactionStatus
from sqlalchemy import Table, delete, insert, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.clock import utcnow
from hub.db import Database
from hub.db.engine import PipelineReadError
from hub.db.tables import ApiKey, Organization
from hub.ids import new_id


def _thread_and_answer(db: Database, value: int, *, plus: int) -> tuple[int, int]:
    with db.read() as session:
        answer = session.connection().exec_driver_sql(f"SELECT {value} + {plus}").scalar_one()
    return threading.get_ident(), answer


def test_sqlite_work_runs_on_the_loop_thread_and_postgresql_work_in_a_worker_thread(db: Database) -> None:
    async def call() -> tuple[int, int, int]:
        loop_thread = threading.get_ident()
        ran_on, answer = await db.run(_thread_and_answer, db, 40, plus=2)
        return loop_thread, ran_on, answer

    loop_thread, ran_on, answer = anyio.run(call)
    assert answer == 42  # arguments, keyword arguments and the answer pass through
    if db.is_sqlite:
        assert ran_on == loop_thread
    else:
        assert ran_on != loop_thread


def test_the_work_sees_the_request_context_and_runs_in_the_loops_default_executor(db: Database) -> None:
    """The request's log fields (context variables) reach the work, and on PostgreSQL it runs in
    the loop's default executor, the one pool ``HUB_HANDLER_THREADS`` sizes."""

    def seen() -> tuple[str | None, str]:
        return structlog.contextvars.get_contextvars().get("request_id"), threading.current_thread().name

    async def call() -> tuple[str | None, str]:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(2, thread_name_prefix="the-default"))
        structlog.contextvars.bind_contextvars(request_id="req_seen")
        try:
            return await db.run(seen)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")

    request_id, thread_name = anyio.run(call)
    assert request_id == "req_seen"
    if db.is_sqlite:
        assert thread_name == threading.current_thread().name
    else:
        assert thread_name.startswith("the-default")


def _in_transaction(db: Database, session: Session | Connection) -> bool:
    """Whether the driver's connection under ``session`` is inside a transaction now."""
    connection = session.connection() if isinstance(session, Session) else session
    driver: Any = connection.connection.dbapi_connection
    if db.is_sqlite:
        return bool(driver.in_transaction)
    return bool(driver.info.transaction_status == TransactionStatus.INTRANS)


def test_a_read_opens_no_transaction_on_postgresql_and_one_snapshot_on_sqlite(db: Database) -> None:
    with db.read() as session:
        session.execute(select(ApiKey.id).limit(1)).all()
        # SQLite: one read transaction, all its statements see one snapshot of the file.
        # PostgreSQL: autocommit, no BEGIN and no ROLLBACK round trip around the statements.
        assert _in_transaction(db, session) is db.is_sqlite
    with db.write() as session:  # a write is one transaction on both
        session.execute(select(ApiKey.id).limit(1)).all()
        assert _in_transaction(db, session)


def test_a_core_write_is_one_transaction_taking_the_write_lock_up_front(db: Database) -> None:
    with db.begin() as connection:
        connection.execute(select(ApiKey.id).limit(1)).all()
        assert _in_transaction(db, connection)
        if db.is_sqlite:  # the file's write lock is taken up front (BEGIN IMMEDIATE)
            assert not _other_writer_gets_the_lock(db)
    if db.is_sqlite:
        assert _other_writer_gets_the_lock(db)


def _other_writer_gets_the_lock(db: Database) -> bool:
    """Whether another connection to the file could start a write transaction right now."""
    other = sqlite3.connect(str(make_url(db.url).database), timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:  # database is locked
        return False
    else:
        other.execute("ROLLBACK")
        return True
    finally:
        other.close()


def test_a_core_write_commits_on_success_and_rolls_back_on_an_exception(db: Database) -> None:
    organizations = cast(Table, Organization.__table__)
    kept, dropped = new_id("organization"), new_id("organization")
    with db.begin() as connection:
        connection.execute(insert(organizations).values(id=kept, name=kept, created_at=utcnow()))

    def fail_halfway() -> None:
        with db.begin() as connection:
            connection.execute(insert(organizations).values(id=dropped, name=dropped, created_at=utcnow()))
            raise RuntimeError("the caller failed halfway")

    with pytest.raises(RuntimeError):
        fail_halfway()
    with db.read() as session:
        found = set(session.scalars(select(organizations.c.id).where(organizations.c.id.in_([kept, dropped]))))
    assert found == {kept}
    with db.begin() as connection:
        connection.execute(delete(organizations).where(organizations.c.id == kept))


def test_a_pipelined_block_writes_in_the_transaction_and_raises_a_failed_write_as_sqlalchemy_does(
    db: Database,
) -> None:
    """``Database.pipelined``: the block's writes are part of the transaction; a write the
    database refuses raises ``IntegrityError`` by the end of the block, and the transaction
    (the writes before it too) is rolled back. On PostgreSQL a statement that returns rows is
    refused inside."""
    organizations = cast(Table, Organization.__table__)
    first, second, refused = (new_id("organization") for _ in range(3))
    with db.write() as session, db.pipelined(session):
        session.execute(insert(organizations), [{"id": i, "name": i, "created_at": utcnow()} for i in (first, second)])

    def write_a_taken_id() -> None:
        with db.write() as session, db.pipelined(session):
            session.execute(insert(organizations).values(id=refused, name=refused, created_at=utcnow()))
            session.execute(insert(organizations).values(id=first, name=first, created_at=utcnow()))  # taken

    with pytest.raises(IntegrityError):
        write_a_taken_id()
    with db.read() as session:
        found = set(session.scalars(select(organizations.c.id).where(organizations.c.id.in_([first, second, refused]))))
    assert found == {first, second}

    if not db.is_sqlite:  # a read would lose its rows there: refused before it is sent
        reads = [
            select(organizations.c.id).where(organizations.c.id == first),
            text("SELECT 1"),
            insert(organizations).values(id=refused, name=refused, created_at=utcnow()).returning(organizations.c.id),
        ]
        for read in reads:
            with pytest.raises(PipelineReadError), db.write() as session, db.pipelined(session):
                session.execute(read)
    with db.read() as session:  # the refused RETURNING insert was never sent
        assert session.scalar(select(organizations.c.id).where(organizations.c.id == refused)) is None
    with db.begin() as connection:
        connection.execute(delete(organizations).where(organizations.c.id.in_([first, second])))
