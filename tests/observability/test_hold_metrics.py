"""``hub_holds_total`` on ``/metrics``: holds created, converted and released are counted by the
API, expiries by the tidy job (once per hold), and ``/metrics`` reports them all as one family."""

from __future__ import annotations

from datetime import timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from hub.clock import utcnow
from hub.db import Database
from hub.db.tables import Hold
from hub.holds.jobs import sweep_holds
from hub.jobs.queues import DEFAULT
from hub.jobs.runner import enqueue
from hub.settings import Settings
from tests.support.servers import LiveServer
from tests.support.tenants import Tenant
from tests.support.workers import job_context, run_jobs

MONDAY = "2030-12-02"


def holds_total(server: LiveServer) -> dict[str, float]:
    response = httpx.get(f"{server.url}/metrics")
    assert response.status_code == 200, response.text
    types = [line for line in response.text.splitlines() if line.startswith("# TYPE hub_holds")]
    assert types in ([], ["# TYPE hub_holds_total counter"])  # one family, once something was counted
    counted = {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(response.text)
        if family.name == "hub_holds"
        for sample in family.samples
        if sample.name == "hub_holds_total"
    }
    return {outcome: counted.get(outcome, 0.0) for outcome in ("created", "converted", "released", "expired")}


def hold(tenant: Tenant, host_id: str, hour: int) -> dict[str, str]:
    body = {"host_id": host_id, "start": f"{MONDAY}T{hour:02d}:00:00", "duration_minutes": 30}
    response = tenant.client.post("/v1/holds", json={**body, "timezone": "Europe/Berlin"})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_hold_outcomes_are_counted_once_each(
    live_server: LiveServer, tenant: Tenant, settings: Settings, db: Database
) -> None:
    before = holds_total(live_server)
    host = tenant.create_user()
    kept, released, lapsing = (hold(tenant, host["id"], hour) for hour in (9, 11, 13))
    converting = {"host_id": host["id"], "start": kept["start"], "end": kept["end"], "hold_id": kept["id"]}
    assert tenant.client.post("/v1/bookings", json=converting).status_code == 201
    assert tenant.client.delete(f"/v1/holds/{released['id']}").status_code == 200
    assert tenant.client.delete(f"/v1/holds/{released['id']}").status_code == 200  # again: not counted again
    with db.write() as session:
        session.execute(update(Hold).where(Hold.id == lapsing["id"]).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert tenant.client.get(f"/v1/holds/{lapsing['id']}").json()["status"] == "expired"
    middle = holds_total(live_server)
    assert middle["created"] - before["created"] == 3
    assert middle["converted"] - before["converted"] == 1
    assert middle["released"] - before["released"] == 1
    assert middle["expired"] == before["expired"]  # a read does not count it: the tidy job does

    with job_context(settings, db) as connection:
        enqueue(connection, sweep_holds, queue_name=DEFAULT, retry=False)
        run_jobs(settings, db, connection, [DEFAULT])
        swept = holds_total(live_server)["expired"]
        assert swept - middle["expired"] >= 1
        with db.read() as session:
            assert session.get(Hold, lapsing["id"]).status == "expired"  # type: ignore[union-attr]
        enqueue(connection, sweep_holds, queue_name=DEFAULT, retry=False)
        run_jobs(settings, db, connection, [DEFAULT])
    after = holds_total(live_server)
    assert after["expired"] == swept  # the first sweep marked every expired hold: none is counted twice
    assert after["created"] - before["created"] == 3
