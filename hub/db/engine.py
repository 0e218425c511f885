"""The database handle: engines, sessions and the write-transaction rule.

``Database.read()`` opens a session for queries (on PostgreSQL in autocommit, without a
transaction's two round trips: see ``_read_engine``). ``Database.write()`` opens the one kind of
transaction that may change data. On SQLite every write transaction starts with
``BEGIN IMMEDIATE`` (the write lock is taken up front, so a check-then-insert such as the
booking overlap check cannot interleave with another writer); writers inside one process queue
on a lock instead of spinning in SQLite's busy handler. On PostgreSQL writes are ordinary
transactions; the booking service adds a per-host advisory lock and an exclusion constraint.

``Database.begin()`` is ``write`` without an ORM session: a Core connection, for the statements
on tables that the worker runs for every job (a session costs a statement more than SQLite takes
to run it; see ``begin`` for what cannot be written there). ``Database.connect()`` is ``read``
the same way, for the availability read every request of that path makes.

``await Database.run(fn, ...)`` is how a request handler calls blocking database work: see there
for which thread runs it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import msgspec
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from hub.files import private_dir, private_file
from hub.observability.instrument import instrument_engine


def _json_text(value: Any) -> str:
    return msgspec.json.encode(value).decode()


# JSON columns (payloads, profiles, stored requests) are encoded and decoded by msgspec, several
# times faster than the standard library's ``json`` that SQLAlchemy uses by default.
_JSON_CODEC: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": msgspec.json.decode}


P = ParamSpec("P")
T = TypeVar("T")


def driver_url(url: str) -> str:
    """Map the plain URLs operators write to the drivers Hub uses."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+pysqlite")
    return parsed.render_as_string(hide_password=False)


_PIPELINED = "hub.pipelined"  # in a connection's ``info`` while ``Database.pipelined`` runs on it


class PipelineReadError(RuntimeError):
    """A statement that returns rows, sent inside ``Database.pipelined``."""


def _only_writes_in_a_pipeline(
    conn: Connection, _cursor: Any, statement: str, _parameters: Any, context: Any, _executemany: bool
) -> None:
    if not conn.info.get(_PIPELINED):
        return
    compiled = getattr(context, "compiled", None)
    writes = context is not None and (context.isinsert or context.isupdate or context.isdelete)
    if not writes or (compiled is not None and compiled.effective_returning):
        raise PipelineReadError(f"only writes without RETURNING may run in Database.pipelined: {statement[:80]!r}")


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = driver_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        self._write_lock = threading.Lock()
        if self.dialect == "sqlite":
            database = make_url(self.url).database
            if database and database != ":memory:" and not database.startswith("file:"):
                # created 0600 before SQLite opens it: its -wal and -shm files take its mode
                private_dir(Path(database).parent, tighten=False)
                private_file(Path(database))
            self.engine = _sqlite_engine(self.url, immediate=False)
            self.write_engine = _sqlite_engine(self.url, immediate=True)
        else:
            # Connections are recycled every 30 minutes instead of pinged before each checkout:
            # a ping is a round trip on every transaction of every request.
            self.engine = create_engine(
                self.url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800, **_JSON_CODEC
            )
            self.write_engine = self.engine
        for engine in {self.engine, self.write_engine}:
            instrument_engine(engine)  # a span per statement when tracing is on
        self._reader = self._read_engine()
        self._read_sessions = sessionmaker(self._reader, expire_on_commit=False, autoflush=False)
        self._write_sessions = sessionmaker(self.write_engine, expire_on_commit=False, autoflush=False)
        self._commit_hooks: dict[str, Callable[[list[tuple[str, str]]], None]] = {}
        if not self.is_sqlite:
            event.listen(self.write_engine, "before_cursor_execute", _only_writes_in_a_pipeline)
        event.listen(self._write_sessions, "after_commit", self._after_commit)
        event.listen(self._write_sessions, "after_rollback", self._after_rollback)

    def set_commit_hook(self, name: str, hook: Callable[[list[tuple[str, str]]], None]) -> None:
        """Call ``hook([(outbox_id, event_type), ...])`` after each commit that wrote outbox rows
        (one hook per name)."""
        self._commit_hooks[name] = hook

    def _after_commit(self, session: Session) -> None:
        rows = session.info.pop("outbox", None)
        if rows:
            for hook in list(self._commit_hooks.values()):
                hook(list(rows))

    @staticmethod
    def _after_rollback(session: Session) -> None:
        session.info.pop("outbox", None)

    def _read_engine(self) -> Engine:
        """What ``read`` sessions run on. On PostgreSQL, statements in autocommit: under READ
        COMMITTED every statement reads its own snapshot, in a transaction or not, so a read's
        BEGIN and ROLLBACK are two round trips that change nothing it sees. On SQLite a read
        transaction keeps one snapshot for all its statements, and costs no round trip."""
        if self.is_sqlite:
            return self.engine
        return self.engine.execution_options(isolation_level="AUTOCOMMIT")

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Call ``fn`` (blocking database work of a request) from the event loop.

        On SQLite it runs right here, on the loop's thread: its statements read and write a
        local file and take well under a millisecond, less than a hand-off to a worker thread
        costs. Handing them to threads costs more than that under load: the ``sqlite3`` module
        lets go of the GIL at every row it steps, so several handler threads and the loop pass
        the GIL back and forth hundreds of times per request (measured in bench/README.md).
        The price: while a write waits for SQLite's lock (held by another process, such as
        ``hub worker``) the loop waits with it.

        On PostgreSQL it runs in a worker thread, so the loop serves other requests while one
        waits on the database server: in the loop's default executor (``HUB_HANDLER_THREADS``
        threads, see ``hub.app``), the pool Litestar runs its thread handlers in, with the
        caller's context (the request's log fields) as Litestar passes it."""
        if self.is_sqlite:
            return fn(*args, **kwargs)
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(None, call)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read_sessions() as session:
            yield session

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """``read`` without an ORM session: a Core connection, for the Core statements of a read
        that runs on every request of a busy path (availability), where a session's own work
        per statement is a good part of the cost."""
        with self._reader.connect() as connection:
            yield connection

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: committed on success, rolled back on any exception."""
        if self.is_sqlite:
            with self._write_lock, self._write_sessions() as session, session.begin():
                yield session
        else:
            with self._write_sessions() as session, session.begin():
                yield session

    @contextmanager
    def pipelined(self, session: Session) -> Iterator[None]:
        """Send the block's statements in ``session``'s transaction to PostgreSQL without waiting
        for each one's answer (psycopg's pipeline mode), and take the answers together at the
        end of the block: for the result-less tail of a write transaction that holds a lock
        (inserts, updates), whose round trips would otherwise each keep the lock held.

        Only inserts, updates and deletes without RETURNING may run in the block, and any other
        statement raises ``PipelineReadError`` before it is sent: SQLAlchemy decides whether a
        statement returns rows as it sends it, and in a pipeline the answer has not come yet,
        so a SELECT's rows would be lost (``first()`` answered ``None`` for a row that exists).
        A failed statement's error is raised at the latest at the end of the block, as
        SQLAlchemy raises it (``IntegrityError`` for a constraint), and the statements sent
        after it are not run; the transaction is then rolled back as for any error. On SQLite,
        which has no round trips, the block runs as it is."""
        if self.is_sqlite:
            yield
            return
        dbapi = self.write_engine.dialect.loaded_dbapi  # psycopg, which SQLAlchemy loaded for the engine
        connection = session.connection()
        driver = connection.connection.driver_connection
        assert driver is not None
        connection.info[_PIPELINED] = True
        try:
            with driver.pipeline():
                yield
        except dbapi.Error as exc:  # the end of the pipeline raises it, outside SQLAlchemy's execute
            raise DBAPIError.instance(None, None, exc, dbapi.Error) from exc
        finally:
            connection.info.pop(_PIPELINED, None)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One write transaction on a Core connection, by the rule of ``write`` (on SQLite the
        process's write lock and ``BEGIN IMMEDIATE``): committed on success, rolled back on any
        exception. Outbox rows are not written here: the relay hears of them from a session's
        commit (``set_commit_hook``), and ``hub.bookings.outbox`` takes a session."""
        if self.is_sqlite:
            with self._write_lock, self.write_engine.begin() as connection:
                yield connection
        else:
            with self.write_engine.begin() as connection:
                yield connection

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
        if self.write_engine is not self.engine:
            self.write_engine.dispose()


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **_JSON_CODEC)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
