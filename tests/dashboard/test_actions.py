"""Dashboard actions through the running app: resync, relink, retry jobs and deliveries, CSRF."""

from __future__ import annotations

import re
import uuid
from email import message_from_bytes, policy
from typing import Any

import httpx
import msgspec
import redis
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import select

from hub.db import Database
from hub.db.tables import AuditEvent, OAuthState, WebhookDelivery
from hub.jobs.context import JobContext, running
from hub.jobs.queues import DEFAULT, NOTIFY, SYNC, queue
from hub.settings import Settings
from tests.dashboard import seed
from tests.dashboard.conftest import DashboardClient, dead_letter, run_default_queue, signed_in
from tests.support.servers import LiveServer
from tests.support.tenants import Tenant


def flash(client: DashboardClient, response: httpx.Response) -> str:
    page = client.follow(response)
    found = re.search(r'<div class="flash flash-(\w+)" role="status">([^<]*)</div>', page.text)
    assert found, page.text
    return f"{found.group(1)}: {found.group(2)}"


def test_resync_queues_a_sync_of_each_busy_calendar(
    tenant: Tenant, db: Database, host: dict[str, Any], support: DashboardClient, connection: redis.Redis
) -> None:
    connection_id = seed.connection(db, tenant.organization_id, host["id"])
    calendar_id = seed.calendar_of(db, connection_id)
    support.get(f"/dashboard/connections/{connection_id}")
    response = support.post(f"/dashboard/connections/{connection_id}/resync")
    assert response.status_code == 303
    assert flash(support, response).startswith("ok: Sync queued for 1 calendar.")
    job = Job.fetch(f"sync-{calendar_id}-manual", connection=connection, serializer=JSONSerializer)
    assert job.func_name == "hub.connections.jobs.sync_calendar"
    assert job.get_status() == JobStatus.QUEUED
    with db.read() as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.target_id == connection_id)).all()
    assert actions == ["connection.resync_requested"]  # who asked for it is in the audit log
    queue(SYNC, connection).remove(job)
    job.delete()
    connection.delete(f"hub:sync:pending:{calendar_id}")


def test_actions_without_the_csrf_token_change_nothing(
    tenant: Tenant, db: Database, host: dict[str, Any], owner: DashboardClient, connection: redis.Redis
) -> None:
    connection_id = seed.connection(db, tenant.organization_id, host["id"])
    calendar_id = seed.calendar_of(db, connection_id)
    owner.get(f"/dashboard/connections/{connection_id}")
    for token in ("", "0" * 64, (owner.token or "") + "0"):
        response = owner.post(f"/dashboard/connections/{connection_id}/resync", csrf=token)
        assert response.status_code == 403
    keys = owner.post("/dashboard/keys", {"name": "sneaky", "role": "owner"}, csrf="")
    assert keys.status_code == 403
    assert connection.get(f"hub:sync:pending:{calendar_id}") is None
    assert "sneaky" not in owner.get("/dashboard/keys").text


def test_retry_a_failed_job(support: DashboardClient, connection: redis.Redis) -> None:
    tag = uuid.uuid4().hex
    job = dead_letter(connection, tag)
    page = support.get("/dashboard/jobs")
    assert job.id in page.text
    assert "RuntimeError: a bug" in page.text
    assert "Traceback" in page.text
    assert "tests/support/jobs.py" in page.text
    response = support.post(f"/dashboard/jobs/{job.id}/retry")
    assert response.status_code == 303
    assert flash(support, response) == f"ok: Requeued job {job.id}. It runs again as soon as a worker is free."
    assert job.id not in FailedJobRegistry(queue=queue(DEFAULT, connection)).get_job_ids()
    assert Job.fetch(job.id, connection=connection, serializer=JSONSerializer).get_status() == JobStatus.QUEUED
    run_default_queue(connection)
    assert connection.get(f"test:runs:{tag}") == b"2"  # it ran again (and failed again)
    assert support.post("/dashboard/jobs/no-such-job/retry").status_code == 404


def test_retry_all_failed_jobs(owner: DashboardClient, connection: redis.Redis) -> None:
    jobs = [dead_letter(connection, uuid.uuid4().hex) for _ in range(2)]
    owner.get("/dashboard/jobs")
    response = owner.post("/dashboard/jobs/retry-all")
    assert response.status_code == 303
    assert flash(owner, response).startswith("ok: Requeued ")
    failed = FailedJobRegistry(queue=queue(DEFAULT, connection)).get_job_ids()
    assert not any(job.id in failed for job in jobs)
    for job in jobs:
        queue(DEFAULT, connection).remove(job)
        job.delete()


def test_another_organizations_failed_job_is_hidden(
    tenant: Tenant, other_tenant: Tenant, db: Database, owner: DashboardClient, connection: redis.Redis
) -> None:
    theirs = seed.connection(db, other_tenant.organization_id, other_tenant.create_user()["id"])
    job = dead_letter(connection, theirs)
    assert job.id not in owner.get("/dashboard/jobs").text
    assert owner.post(f"/dashboard/jobs/{job.id}/retry").status_code == 404
    assert job.id in FailedJobRegistry(queue=queue(DEFAULT, connection)).get_job_ids()
    their_dashboard = signed_in(other_tenant.base_url, other_tenant.key)
    assert job.id in their_dashboard.get("/dashboard/jobs").text
    their_dashboard.close()
    FailedJobRegistry(queue=queue(DEFAULT, connection)).remove(job, delete_job=True)


def test_retry_a_webhook_delivery(
    tenant: Tenant, db: Database, support: DashboardClient, connection: redis.Redis
) -> None:
    endpoint = tenant.client.post(
        "/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/hook", "events": ["booking.created"]}
    ).json()
    delivery_id = seed.delivery(db, tenant.organization_id, endpoint["id"], status="failed")
    support.get(f"/dashboard/webhooks/{endpoint['id']}")
    response = support.post(f"/dashboard/deliveries/{delivery_id}/retry")
    assert response.status_code == 303
    assert response.headers["location"] == f"/dashboard/webhooks/{endpoint['id']}"
    assert "is queued to be sent again now" in flash(support, response)
    with db.read() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        assert delivery is not None
        assert delivery.status == "pending"
    job = Job.fetch(f"deliver-{delivery_id}-3-retry", connection=connection, serializer=JSONSerializer)
    queue(NOTIFY, connection).remove(job)
    job.delete()

    seed.set_endpoint(db, endpoint["id"], status="disabled", disabled_reason="410 Gone")
    refused = support.post(f"/dashboard/deliveries/{delivery_id}/retry")
    assert flash(support, refused).startswith("error: Webhook endpoint")


def test_relink_needs_a_configured_provider(
    tenant: Tenant, db: Database, host: dict[str, Any], owner: DashboardClient
) -> None:
    connection_id = seed.connection(db, tenant.organization_id, host["id"], status="reauth_required")
    owner.get(f"/dashboard/connections/{connection_id}")
    response = owner.post(f"/dashboard/connections/{connection_id}/relink")
    assert flash(owner, response).startswith("error: Google Calendar is not configured on this Hub")


def test_relink_emails_a_link_that_starts_a_fresh_google_link(
    tenant: Tenant,
    db: Database,
    host: dict[str, Any],
    linking_server: LiveServer,
    linking_settings: Settings,
    connection: redis.Redis,
) -> None:
    connection_id = seed.connection(db, tenant.organization_id, host["id"], status="reauth_required")
    support = signed_in(linking_server.url, tenant.create_key("support"))
    support.get(f"/dashboard/connections/{connection_id}")
    response = support.post(f"/dashboard/connections/{connection_id}/relink")
    assert flash(support, response) == "ok: A relink link is on its way to ada.host@example.com. It works for 7 days."

    # The worker's part: the queued job writes the email through the configured transport.
    worker_settings = msgspec.structs.replace(linking_settings, public_url=linking_server.url)
    notify = queue(NOTIFY, connection)
    jobs = [
        j
        for j in notify.get_jobs()
        if j.func_name == "dashboard.relink.send_relink_email" and j.args[0] == connection_id
    ]
    assert len(jobs) == 1
    with running(JobContext(worker_settings, db, connection)):
        assert jobs[0].perform() == {"outcome": "sent", "recipient": "ada.host@example.com"}
    notify.remove(jobs[0])
    jobs[0].delete()

    mails = [
        message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in (linking_settings.data_dir / "mail").glob("*.eml")
    ]
    mail = next(m for m in mails if connection_id in m.get_content() or "ada.host@example.com" in str(m["To"]))
    assert mail["Subject"] == "Reconnect your Google Calendar"
    link = re.search(r"http://127\.0\.0\.1:\d+/dashboard/relink/\S+", mail.get_content())
    assert link, mail.get_content()

    opened = httpx.get(link.group(0), follow_redirects=False)  # the user's browser: no dashboard session
    assert opened.status_code == 302
    location = opened.headers["location"]
    assert location.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    assert "client_id=dashboard-test-client" in location
    assert "state=" in location
    with db.read() as session:
        pending = session.scalars(select(OAuthState).where(OAuthState.user_id == host["id"])).all()
        assert len(pending) == 1
        assert pending[0].redirect_uri == f"{linking_server.url}/dashboard/linked"
        audit = session.scalars(select(AuditEvent).where(AuditEvent.target_id == connection_id)).all()
        assert [e.action for e in audit] == ["connection.relink_sent"]

    forged = httpx.get(link.group(0)[:-2] + "xx", follow_redirects=False)
    assert forged.status_code == 410
    assert "expired or is no longer valid" in forged.text
    landing = httpx.get(f"{linking_server.url}/dashboard/linked?connection_id={connection_id}")
    assert landing.status_code == 200
    assert "connected again" in landing.text
    support.close()
