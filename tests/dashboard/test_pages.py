"""Every dashboard page through the running app: what support staff see, filters, paging, scoping."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest

from hub.db import Database
from hub.db.tables import Booking
from tests.dashboard import seed
from tests.dashboard.conftest import DashboardClient, signed_in
from tests.support.tenants import Tenant

PAGES = [
    "/dashboard",
    "/dashboard/connections",
    "/dashboard/sync-runs",
    "/dashboard/jobs",
    "/dashboard/webhooks",
    "/dashboard/audit",
]
OWNER_PAGES = ["/dashboard/keys"]


def rows(html: str) -> int:
    return html.count("<tr") - html.count("<tr><th")


@pytest.mark.parametrize("path", PAGES + OWNER_PAGES)
def test_owner_sees_every_page(owner: DashboardClient, path: str) -> None:
    response = owner.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert 'class="empty"' in response.text or "<table>" in response.text


@pytest.mark.parametrize("path", PAGES)
def test_support_sees_the_support_pages(support: DashboardClient, path: str) -> None:
    assert support.get(path).status_code == 200


@pytest.mark.parametrize("path", OWNER_PAGES)
def test_support_cannot_open_the_key_console(support: DashboardClient, path: str) -> None:
    response = support.get(path)
    assert response.status_code == 403
    assert "`keys:manage`" in response.text


def test_empty_pages_say_what_to_do(owner: DashboardClient) -> None:
    assert "No calendar is connected yet." in owner.get("/dashboard/connections").text
    assert "No sync has run yet." in owner.get("/dashboard/sync-runs").text
    assert "No webhook endpoint yet." in owner.get("/dashboard/webhooks").text
    assert "Every connection is healthy." in owner.get("/dashboard").text


def test_connection_needing_reauth_is_shown_with_its_sync_log(
    tenant: Tenant, db: Database, host: dict[str, Any], support: DashboardClient
) -> None:
    org = tenant.organization_id
    broken = seed.connection(
        db,
        org,
        host["id"],
        status="reauth_required",
        email="ada@gmail.example",
        failures=3,
        error_code="invalid_grant",
        error_message="Token has been expired or revoked.",
    )
    seed.connection(db, org, host["id"], status="active", email="ada@work.example")
    started = seed.now() - timedelta(minutes=5)
    seed.sync_run(
        db,
        org,
        broken,
        started_at=started,
        outcome="failed",
        error_code="invalid_grant",
        error_detail="Token has been expired or revoked.",
    )
    seed.sync_run(db, org, broken, started_at=started - timedelta(hours=1), outcome="succeeded")
    seed.notification(db, broken, status="processed", duplicates=2)

    listing = support.get("/dashboard/connections")
    assert "badge-reauth-required" in listing.text
    assert "Reauth required" in listing.text
    assert "ada@gmail.example" in listing.text
    assert "ada@work.example" in listing.text
    assert "invalid_grant" in listing.text

    only_broken = support.get("/dashboard/connections?status=reauth_required")
    assert "ada@gmail.example" in only_broken.text
    assert "ada@work.example" not in only_broken.text
    by_email = support.get("/dashboard/connections?q=WORK.example")
    assert "ada@work.example" in by_email.text
    assert "ada@gmail.example" not in by_email.text
    by_user_email = support.get("/dashboard/connections?q=ada.host@")
    assert rows(by_user_email.text) == 2
    assert "No connection matches" in support.get("/dashboard/connections?provider=microsoft").text

    page = support.get(f"/dashboard/connections/{broken}")
    assert page.status_code == 200
    assert "The user must link this account again." in page.text
    assert "Token has been expired or revoked." in page.text
    assert "Re-send relink link" in page.text
    assert "Resync now" in page.text
    assert "badge-failed" in page.text
    assert "badge-succeeded" in page.text
    assert "ada@gmail.example (primary)" in page.text  # its calendar
    assert re.search(r'<td class="num">2</td>', page.text)  # the notification's duplicates

    log = support.get(f"/dashboard/sync-runs?connection={broken}&outcome=failed")
    assert log.status_code == 200
    assert rows(log.text) == 1
    assert "invalid_grant" in log.text

    overview = support.get("/dashboard")
    assert "ada@gmail.example" in overview.text  # needs attention
    assert "Bookings created per hour" in overview.text
    assert "<svg" in overview.text


def test_sync_log_pages_by_cursor_newest_first(
    tenant: Tenant, db: Database, host: dict[str, Any], owner: DashboardClient
) -> None:
    org = tenant.organization_id
    connection_id = seed.connection(db, org, host["id"])
    base = seed.now() - timedelta(days=2)
    made: list[tuple[datetime, str]] = []
    for i in range(120):  # runs start in threes at the same moment: ties are broken by id
        started = base + timedelta(minutes=i - i % 3)
        made.append((started, seed.sync_run(db, org, connection_id, started_at=started)))
    seen: list[str] = []
    path = "/dashboard/sync-runs"
    pages = 0
    while path:
        page = owner.get(path)
        assert page.status_code == 200
        seen += re.findall(r'<tr id="(run_[0-9a-z]{26})"', page.text)
        older = re.search(r'href="(/dashboard/sync-runs\?cursor=[^"]+)">Older', page.text)
        path = older.group(1).replace("&amp;", "&") if older else ""
        pages += 1
    assert seen == [run_id for _started, run_id in sorted(made, reverse=True)]  # each once, newest first
    assert pages == 3  # 50 + 50 + 20


def test_sync_log_filters(tenant: Tenant, db: Database, host: dict[str, Any], owner: DashboardClient) -> None:
    org = tenant.organization_id
    google = seed.connection(db, org, host["id"], email="g@example.com")
    microsoft = seed.connection(db, org, host["id"], provider="microsoft", email="m@example.com")
    now = seed.now()
    seed.sync_run(db, org, google, started_at=now - timedelta(minutes=10), outcome="failed", error_code="rate_limited")
    seed.sync_run(db, org, microsoft, started_at=now - timedelta(minutes=20), provider="microsoft")
    seed.sync_run(db, org, google, started_at=now - timedelta(days=3))

    assert rows(owner.get("/dashboard/sync-runs").text) == 3
    failed = owner.get("/dashboard/sync-runs?outcome=failed").text
    assert rows(failed) == 1
    assert "rate_limited" in failed
    assert rows(owner.get("/dashboard/sync-runs?provider=microsoft").text) == 1
    assert rows(owner.get("/dashboard/sync-runs?period=24h").text) == 2
    until = (now - timedelta(days=3)).strftime("%Y-%m-%d")
    assert rows(owner.get(f"/dashboard/sync-runs?until={until}").text) == 1
    bad = owner.get("/dashboard/sync-runs?cursor=not-a-cursor")
    assert bad.status_code == 422
    assert "cursor" in bad.text


def test_webhook_deliveries_show_attempts_and_disabled_state(
    tenant: Tenant, db: Database, support: DashboardClient
) -> None:
    created = tenant.client.post(
        "/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/hook", "events": ["booking.created"]}
    )
    assert created.status_code == 201, created.text
    endpoint_id = created.json()["id"]
    seed.delivery(db, tenant.organization_id, endpoint_id, attempts=[(500, 120), (None, 15_000)])
    listing = support.get("/dashboard/webhooks")
    assert "http://127.0.0.1:9/hook" in listing.text
    assert "Enabled" in listing.text
    page = support.get(f"/dashboard/webhooks/{endpoint_id}")
    assert "#1 · 500 · 120 ms" in page.text
    assert "#2 · no answer · 15.0 s" in page.text
    seed.set_endpoint(
        db, endpoint_id, status="disabled", disabled_reason="410 Gone from the receiver", disabled_at=seed.now()
    )
    disabled = support.get(f"/dashboard/webhooks/{endpoint_id}")
    assert "410 Gone from the receiver" in disabled.text
    assert "badge-disabled" in disabled.text
    assert "a key with the <code>webhooks:write</code> scope can enable it again" in disabled.text


def test_another_organizations_objects_are_not_found(
    tenant: Tenant, other_tenant: Tenant, db: Database, owner: DashboardClient
) -> None:
    other_user = other_tenant.create_user()
    theirs = seed.connection(db, other_tenant.organization_id, other_user["id"], email="theirs@example.com")
    seed.sync_run(db, other_tenant.organization_id, theirs, started_at=seed.now())
    endpoint = other_tenant.client.post(
        "/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/x", "events": ["booking.created"]}
    ).json()
    delivery = seed.delivery(db, other_tenant.organization_id, endpoint["id"])
    their_key = signed_in(other_tenant.base_url, other_tenant.key)
    their_key.close()

    assert owner.get(f"/dashboard/connections/{theirs}").status_code == 404
    assert owner.get(f"/dashboard/webhooks/{endpoint['id']}").status_code == 404
    assert "theirs@example.com" not in owner.get("/dashboard/connections").text
    assert owner.get(f"/dashboard/sync-runs?connection={theirs}").status_code == 404
    assert owner.post(f"/dashboard/connections/{theirs}/resync").status_code == 404
    assert owner.post(f"/dashboard/connections/{theirs}/relink").status_code == 404
    assert owner.post(f"/dashboard/deliveries/{delivery}/retry").status_code == 404
    other_key_id = other_tenant.client.get("/v1/api-keys").json()["data"][0]["id"]
    assert owner.post(f"/dashboard/keys/{other_key_id}/revoke").status_code == 404
    assert other_tenant.client.get("/v1/api-keys").status_code == 200  # still works


class _Structure(HTMLParser):
    """The table header texts and heading levels of a page, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[str] = []
        self.levels: list[int] = []
        self._in_th = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "th":
            self._in_th = True
            self.headers.append("")
        elif re.fullmatch(r"h[1-6]", tag):
            self.levels.append(int(tag[1]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "th":
            self._in_th = False

    def handle_data(self, data: str) -> None:
        if self._in_th:
            self.headers[-1] += data.strip()


@pytest.mark.parametrize("path", PAGES + OWNER_PAGES)
def test_pages_have_named_table_headers_and_no_skipped_heading_level(
    tenant: Tenant, db: Database, host: dict[str, Any], owner: DashboardClient, path: str
) -> None:
    seed.connection(db, tenant.organization_id, host["id"], status="reauth_required", failures=2)
    structure = _Structure()
    structure.feed(owner.get(path).text)
    assert all(structure.headers), structure.headers  # every header cell has a name (maybe visually hidden)
    assert structure.levels[0] == 1
    for before, after in zip(structure.levels, structure.levels[1:], strict=False):
        assert after <= before + 1, structure.levels


def test_a_users_schedule_shows_bookings_and_live_holds(
    tenant: Tenant, db: Database, host: dict[str, Any], support: DashboardClient
) -> None:
    connection = seed.connection(db, tenant.organization_id, host["id"], email="ada@gmail.example")
    page = support.get(f"/dashboard/connections/{connection}")
    assert "Schedule of Ada Host" in page.text
    assert "Nothing booked or held ahead." in page.text

    def post(path: str, hour: int, **extra: Any) -> dict[str, Any]:
        body = {"host_id": host["id"], "start": f"2030-12-02T{hour:02d}:00:00", "duration_minutes": 30}
        response = tenant.client.post(path, json={**body, "timezone": "Europe/Berlin", **extra})
        assert response.status_code == 201, response.text
        return dict(response.json())

    booked = post("/v1/bookings", 9, title="Intro call")
    held = post("/v1/holds", 10)
    released = post("/v1/holds", 11)
    assert tenant.client.delete(f"/v1/holds/{released['id']}").status_code == 200

    page = support.get(f"/dashboard/connections/{connection}")
    assert page.status_code == 200
    assert page.text.count('class="schedule-booking"') == 1
    assert page.text.count('class="schedule-hold"') == 1
    assert "Booked: Intro call" in page.text
    assert "Held, until" in page.text
    assert page.text.index(booked["id"]) < page.text.index(held["id"])  # in time order
    assert released["id"] not in page.text  # a released hold blocks nothing, so it is not shown

    # A key that may read connections but not bookings sees no schedule.
    limited = signed_in(tenant.base_url, tenant.create_key("support", ["connections:read"]))
    try:
        other_view = limited.get(f"/dashboard/connections/{connection}")
        assert other_view.status_code == 200
        assert "Schedule of" not in other_view.text
        assert held["id"] not in other_view.text
    finally:
        limited.close()


def test_a_caldav_connection_shows_its_server_calendars_and_sync_log(
    tenant: Tenant, db: Database, host: dict[str, Any], support: DashboardClient
) -> None:
    org = tenant.organization_id
    connection_id = seed.connection(
        db,
        org,
        host["id"],
        provider="caldav",
        email="ada@icloud.example",
        account_id="https://caldav.icloud.example:443/1234567/principal/",
    )
    seed.sync_run(db, org, connection_id, started_at=seed.now() - timedelta(minutes=2), outcome="succeeded")
    page = support.get(f"/dashboard/connections/{connection_id}")
    assert page.status_code == 200
    text = page.text
    assert "<code>https://caldav.icloud.example:443</code>" in text, "the server, not the principal"
    assert "1234567" not in text
    assert "polled every 5 minutes" in text
    assert "Recent provider notifications" not in text, "CalDAV has no push"
    assert "ada@icloud.example (primary)" in text  # its calendars
    assert f"/dashboard/sync-runs?connection={connection_id}" in text  # and its sync log
    assert "Succeeded" in text or "succeeded" in text
    google = seed.connection(db, org, host["id"], email="ada@gmail.example")
    assert "<dt>Server</dt>" not in support.get(f"/dashboard/connections/{google}").text


def test_a_users_schedule_includes_team_bookings_with_the_other_hosts(
    tenant: Tenant, db: Database, host: dict[str, Any], support: DashboardClient
) -> None:
    colleague = tenant.create_user(name="Bo Colleague", email="bo@example.com")
    connection = seed.connection(db, tenant.organization_id, host["id"], email="ada@gmail.example")
    body = {"start": "2030-12-02T13:00:00", "duration_minutes": 30, "timezone": "Europe/Berlin", "title": "Panel"}
    response = tenant.client.post("/v1/bookings", json={**body, "host_ids": [colleague["id"], host["id"]]})
    assert response.status_code == 201, response.text
    page = support.get(f"/dashboard/connections/{connection}")
    assert page.status_code == 200
    assert page.text.count('class="schedule-booking"') == 1
    assert response.json()["id"] in page.text
    assert "with Bo Colleague" in page.text


def test_a_booking_whose_event_the_host_changed_is_flagged_and_the_sync_log_names_it(
    tenant: Tenant, db: Database, host: dict[str, Any], support: DashboardClient
) -> None:
    connection = seed.connection(db, tenant.organization_id, host["id"], email="ada@gmail.example")
    created = tenant.client.post(
        "/v1/bookings",
        json={
            "host_id": host["id"],
            "start": "2030-12-02T09:00:00",
            "duration_minutes": 30,
            "timezone": "Europe/Berlin",
        },
    )
    assert created.status_code == 201, created.text
    booking_id = created.json()["id"]
    page = support.get(f"/dashboard/connections/{connection}")
    assert "external-change" not in page.text
    with db.write() as session:
        row = session.get(Booking, booking_id)
        assert row is not None
        row.external_change = {"kind": "deleted", "detected_at": "2030-11-01T10:00:00Z", "start": None, "end": None}
    seed.sync_run(
        db,
        tenant.organization_id,
        connection,
        started_at=seed.now(),
        booking_changes=[{"booking_id": booking_id, "kind": "deleted"}],
    )
    page = support.get(f"/dashboard/connections/{connection}")
    assert "event deleted by the host" in page.text
    assert f"booking <code>{booking_id}</code>: deleted" in page.text


def test_a_users_schedule_marks_the_occurrences_of_a_series(
    tenant: Tenant, db: Database, host: dict[str, Any], support: DashboardClient
) -> None:
    colleague = tenant.create_user(name="Bo Colleague", email="bo@example.com")
    connection = seed.connection(db, tenant.organization_id, host["id"], email="ada@gmail.example")
    when = {"duration_minutes": 30, "timezone": "Europe/Berlin"}
    busy = {"host_id": colleague["id"], "start": "2030-12-09T14:00:00", **when}
    assert tenant.client.post("/v1/bookings", json=busy).status_code == 201
    recurrence = {"frequency": "weekly", "count": 4, "on_conflict": "skip"}
    body = {"start": "2030-12-02T14:00:00", "title": "Weekly sync", "recurrence": recurrence, **when}
    response = tenant.client.post("/v1/bookings", json={**body, "host_ids": [host["id"], colleague["id"]]})
    assert response.status_code == 201, response.text
    series_id = response.json()["series_id"]
    single = {"host_id": host["id"], "start": "2030-12-03T09:00:00", "title": "Intro call", **when}
    assert tenant.client.post("/v1/bookings", json=single).status_code == 201
    page = support.get(f"/dashboard/connections/{connection}")
    assert page.status_code == 200
    assert page.text.count('class="schedule-booking"') == 4  # three occurrences (the second is skipped), one single
    marks = re.findall(r'<span class="muted schedule-series">(\d+) of (\d+) · series <code>([^<]+)</code>', page.text)
    assert marks == [("1", "4", series_id), ("3", "4", series_id), ("4", "4", series_id)]
    assert page.text.count("with Bo Colleague") == 3
