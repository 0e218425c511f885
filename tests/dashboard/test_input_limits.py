"""The sync log refuses forged cursors and far-off days with a page, never a 500."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest

from hub.db import Database
from tests.dashboard import seed
from tests.dashboard.conftest import DashboardClient
from tests.dashboard.test_pages import rows
from tests.support.tenants import Tenant


def forged_cursor(*values: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "values",
    [
        ("9999-12-31T23:59:59-14:00", "run_01m86kmfsa4gapcqvjvg7ztzcr"),
        ("0001-01-01T00:00:00+14:00", "run_01m86kmfsa4gapcqvjvg7ztzcr"),
        ("2030-12-02T08:00:00", "run_01m86kmfsa4gapcqvjvg7ztzcr"),  # no offset
        ("2030-12-02T08:00:00+00:00", "run_\u0000"),
    ],
    ids=["after-max", "before-min", "naive", "nul-id"],
)
def test_a_forged_sync_log_cursor_gets_an_error_page(
    tenant: Tenant, db: Database, host: dict[str, Any], owner: DashboardClient, values: tuple[str, str]
) -> None:
    connection_id = seed.connection(db, tenant.organization_id, host["id"])
    seed.sync_run(db, tenant.organization_id, connection_id, started_at=seed.now())
    page = owner.get("/dashboard/sync-runs", params={"cursor": forged_cursor(*values)})
    assert page.status_code == 422, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "cursor" in page.text


@pytest.mark.parametrize("until", ["9999-12-31", "0001-01-01"])
def test_a_day_outside_the_supported_years_shows_the_whole_log(
    tenant: Tenant, db: Database, host: dict[str, Any], owner: DashboardClient, until: str
) -> None:
    connection_id = seed.connection(db, tenant.organization_id, host["id"])
    seed.sync_run(db, tenant.organization_id, connection_id, started_at=seed.now() - timedelta(hours=1))
    page = owner.get("/dashboard/sync-runs", params={"until": until})
    assert page.status_code == 200, page.text
    assert rows(page.text) == 1  # an unusable filter is ignored, like any unknown one
