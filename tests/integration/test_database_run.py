"""``Database.run``: which thread runs a request's database work (hub.db.engine)."""

from __future__ import annotations

import threading

import anyio

from hub.db import Database


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
