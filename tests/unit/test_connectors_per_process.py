"""Connectors belong to the app or worker process that built them: built once there, shared
by its requests or jobs, and never by another app in the same process."""

from __future__ import annotations

import threading

import msgspec

from hub.app import create_app
from hub.connectors import Connectors
from hub.db import Database
from hub.jobs.context import JobContext
from hub.redis import connect
from hub.settings import Settings


def _with_google(settings: Settings) -> Settings:
    return msgspec.structs.replace(settings, google_client_id="per-process-client", google_client_secret="s")


def test_one_connector_per_provider_however_many_threads_ask(settings: Settings) -> None:
    connectors = Connectors(_with_google(settings))
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(connectors.get("google"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(c) for c in seen}) == 1
    assert connectors.get("google") is seen[0]
    assert connectors.get("microsoft") is not seen[0]


def test_two_apps_in_one_process_share_no_connector(settings: Settings) -> None:
    first, second = create_app(_with_google(settings)), create_app(_with_google(settings))
    try:
        assert first.state.connectors is not second.state.connectors
        assert first.state.connectors.get("google") is not second.state.connectors.get("google")
        assert first.state.connectors.get("google") is first.state.connectors.get("google")
    finally:
        for app in (first, second):
            app.state.redis.close()
            app.state.db.dispose()


def test_a_job_context_builds_its_own_connectors_once(settings: Settings, db: Database) -> None:
    redis_client = connect(settings.redis_url or "")
    ctx = JobContext(_with_google(settings), db, redis_client)
    other = JobContext(_with_google(settings), db, redis_client)
    assert ctx.connectors is ctx.connectors
    assert ctx.connectors.get("google") is ctx.connectors.get("google")
    assert ctx.connectors.get("google") is not other.connectors.get("google")
    redis_client.close()
