"""The dashboard in a real headless Chromium (Playwright driving Debian's ``/usr/bin/chromium``).

One support-desk journey: sign in, find the connection that needs to be linked again, open its
sync log, retry a failed job; then an owner creates and revokes an API key. Screenshots of each
page go to ``artifacts/screenshots/``. Skipped, with the reason, when Playwright or Chromium is
not installed.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from hub.db import Database
from hub.jobs.queues import DEFAULT, NOTIFY, queue
from tests.dashboard import seed
from tests.dashboard.conftest import dead_letter
from tests.support.tenants import Tenant

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (pip install playwright)", exc_type=ImportError
)
EXECUTABLE = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
if EXECUTABLE is None:
    pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)", allow_module_level=True)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=EXECUTABLE, args=ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A laptop-sized page in Berlin time; console errors (a CSP violation, a script error) fail the test."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, timezone_id="Europe/Berlin")
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, errors


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, base_url: str, key: str, screenshot: str | None = None) -> None:
    page.goto(f"{base_url}/dashboard/sign-in")
    page.fill("input[name=api_key]", key)
    if screenshot:
        shot(page, screenshot)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("h1:has-text('Overview')")


def seed_support_story(tenant: Tenant, db: Database) -> str:
    """A user whose Google link broke an hour ago, after a day of good syncs, plus a few bookings."""
    org = tenant.organization_id
    host = tenant.create_user(name="Ada Lovelace", email="ada@lovelace.example")
    tenant.create_user(name="Grace Hopper", email="grace@hopper.example")
    broken = seed.connection(
        db, org, host["id"], status="reauth_required", email="ada.lovelace@gmail.example", failures=4,
        error_code="invalid_grant", error_message="Token has been expired or revoked.",
    )  # fmt: skip
    healthy = seed.connection(db, org, host["id"], provider="microsoft", email="ada@lovelace.example")
    now = seed.now()
    for hours in range(1, 24):
        seed.sync_run(db, org, healthy, started_at=now - timedelta(hours=hours, minutes=7), provider="microsoft")
        outcome = "failed" if hours <= 2 else "succeeded"
        seed.sync_run(
            db, org, broken, started_at=now - timedelta(hours=hours, minutes=21), outcome=outcome,
            error_code="invalid_grant" if outcome == "failed" else None,
            error_detail="Token has been expired or revoked." if outcome == "failed" else None,
        )  # fmt: skip
    seed.notification(db, broken, status="processed", duplicates=1)
    seed.notification(db, broken, status="ignored")
    for day in (2, 3, 4):
        response = tenant.client.post(
            "/v1/bookings",
            json={
                "host_id": host["id"],
                "start": f"2030-12-0{day}T10:00:00",
                "duration_minutes": 30,
                "timezone": "Europe/Berlin",
                "title": "Intro call",
            },
        )
        assert response.status_code == 201, response.text
    return broken


def test_support_finds_the_broken_connection_and_retries_a_job(
    page: Any, tenant: Tenant, db: Database, connection: redis.Redis
) -> None:
    broken = seed_support_story(tenant, db)
    job = dead_letter(connection, uuid.uuid4().hex)
    sign_in(page, tenant.base_url, tenant.create_key("support"), "sign-in")
    assert page.locator("text=ada.lovelace@gmail.example").first.is_visible()  # needs attention
    first_time = page.locator("main time").first
    assert not first_time.inner_text().endswith("UTC")  # shown in the viewer's zone...
    assert first_time.get_attribute("title").endswith("UTC")  # ...with UTC on hover
    shot(page, "overview")

    page.click("nav >> text=Connections")
    badge = page.locator(".badge-reauth-required").first
    assert badge.inner_text() == "Reauth required"
    assert badge.evaluate("el => getComputedStyle(el).backgroundColor") != "rgba(0, 0, 0, 0)"
    shot(page, "connections")

    page.click("text=ada.lovelace@gmail.example")
    page.wait_for_selector("text=The user must link this account again.")
    assert page.locator("button:has-text('Re-send relink link')").is_enabled()
    shot(page, "connection")

    page.click("text=Open the full sync log of this connection")
    page.wait_for_selector("h1:has-text('Sync log')")
    assert page.locator(f"text={broken}").is_visible()
    assert page.locator("tr .badge-failed").count() == 2
    page.select_option("select[name=outcome]", "failed")
    page.click("button:has-text('Apply')")
    page.wait_for_url("**outcome=failed**")
    assert page.locator("table tr").count() == 3  # the header and the two failed runs
    shot(page, "sync-log")

    page.set_viewport_size({"width": 820, "height": 1180})  # a tablet held upright
    page.goto(f"{tenant.base_url}/dashboard/connections")
    shot(page, "connections-tablet")
    page.set_viewport_size({"width": 1366, "height": 900})

    page.click("nav >> text=Jobs")
    row = page.locator(f"tr#job-{job.id}")
    assert "RuntimeError: a bug" in row.inner_text()
    row.locator("summary").click()
    assert row.locator("pre.trace").is_visible()
    shot(page, "jobs")
    row.locator("button:has-text('Retry')").click()
    page.wait_for_selector(f"text=Requeued job {job.id}")
    assert page.locator(f"tr#job-{job.id}").count() == 0
    assert job.id not in FailedJobRegistry(queue=queue(DEFAULT, connection)).get_job_ids()
    shot(page, "jobs-after-retry")
    queue(DEFAULT, connection).remove(job)
    job.delete()


def test_owner_creates_and_revokes_a_key(page: Any, tenant: Tenant, db: Database) -> None:
    seed_support_story(tenant, db)
    sign_in(page, tenant.base_url, tenant.key)
    page.click("nav >> text=API keys")
    page.fill("input[name=name]", "Booking widget")
    page.select_option("select[name=role]", "app")
    page.check("input[value='bookings:read']")
    page.check("input[value='availability:read']")
    page.click("button:has-text('Create key')")
    page.wait_for_selector("text=Copy the key now.")
    secret = page.input_value("#new-key")
    assert secret.startswith("hub_sk_")
    shot(page, "key-created")
    api = tenant.key_client(secret)
    assert api.get("/v1/bookings").status_code == 200

    page.click("text=Back to the keys")
    row = page.locator("tr", has_text="Booking widget")
    assert "availability:read, bookings:read" in row.inner_text()
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button:has-text('Revoke')").click()
    page.wait_for_selector("text=Revoked Booking widget")
    assert "Revoked" in page.locator("tr", has_text="Booking widget").inner_text()
    shot(page, "keys")
    assert api.get("/v1/bookings").status_code == 401
    api.close()

    page.click("nav >> text=Audit log")
    assert page.locator("text=api_key.revoked").first.is_visible()
    shot(page, "audit")
    page.click("nav >> text=Webhooks")
    shot(page, "webhooks-empty")


def test_a_webhook_that_never_arrived(page: Any, tenant: Tenant, db: Database, connection: redis.Redis) -> None:
    endpoint = tenant.client.post(
        "/v1/webhook-endpoints", json={"url": "https://partner.example/hooks/hub", "events": ["booking.created"]}
    ).json()
    delivery_id = seed.delivery(db, tenant.organization_id, endpoint["id"], attempts=[(503, 2140), (None, 15000)])
    seed.delivery(db, tenant.organization_id, endpoint["id"], status="succeeded", attempts=[(200, 88)])
    sign_in(page, tenant.base_url, tenant.create_key("support"))
    page.click("nav >> text=Webhooks")
    shot(page, "webhooks")
    page.click("text=https://partner.example/hooks/hub")
    row = page.locator(f"tr#delivery-{delivery_id}")
    assert "#1 · 503 · 2.1 s" in row.inner_text()
    shot(page, "webhook-endpoint")
    row.locator("button:has-text('Retry')").click()
    page.wait_for_selector(f"text=Delivery {delivery_id} is queued to be sent again now.")
    job = Job.fetch(f"deliver-{delivery_id}-3-retry", connection=connection, serializer=JSONSerializer)
    queue(NOTIFY, connection).remove(job)
    job.delete()
