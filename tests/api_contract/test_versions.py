"""``GET /versions`` and the rules the version registry must keep (docs/migration-guide.md)."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from hub.versioning.compat import CHANGES, Change
from hub.versioning.registry import (
    DEPRECATIONS,
    MIN_DEPRECATION_DAYS,
    MIN_MAJOR_DEPRECATION_DAYS,
    VERSIONS,
    ApiVersion,
    Deprecation,
)
from tests.api_contract.snapshot import load_snapshot
from tests.support.servers import LiveServer


def test_versions_lists_v1_without_an_api_key(live_server: LiveServer) -> None:
    response = httpx.get(f"{live_server.url}/versions", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"]
    assert "max-age=3600" in response.headers["cache-control"]
    body = response.json()
    assert body["object"] == "list"
    assert body["next_cursor"] is None
    [v1] = body["data"]
    assert v1 == {
        "object": "api_version",
        "version": "v1",
        "status": "current",
        "released": "2026-11-01",
        "sunset": None,
        "docs": "https://hub.example.com/docs/api/versions.md",
        "current_revision": "2026-11-01",
        "revision_header": "Hub-Version",
        "revisions": [
            {
                "object": "api_revision",
                "version": "2026-06-01",
                "status": "deprecated",
                "released": "2026-06-01",
                "deprecated_at": "2026-11-01",
                "sunset": "2027-05-01",
                "summary": "Early access: bookings take `guests` (e-mail addresses) and `length_minutes`.",
                "docs": "https://hub.example.com/docs/migration-guide.md#hub-version-2026-06-01",
            },
            {
                "object": "api_revision",
                "version": "2026-11-01",
                "status": "current",
                "released": "2026-11-01",
                "deprecated_at": None,
                "sunset": None,
                "summary": "The v1 contract: `attendees` objects and `duration_minutes` on bookings.",
                "docs": "https://hub.example.com/docs/api/versions.md",
            },
        ],
    }


def test_versions_is_documented_as_needing_no_key(live_server: LiveServer) -> None:
    document = httpx.get(f"{live_server.url}/schema/openapi.json", timeout=30).json()
    assert document["paths"]["/versions"]["get"]["security"] == []
    assert document["security"] == [{"bearerAuth": []}]


def test_versions_ignores_a_bad_api_key_and_revision(live_server: LiveServer) -> None:
    headers = {"Authorization": "Bearer hub_sk_nope", "Hub-Version": "1999-01-01"}
    response = httpx.get(f"{live_server.url}/versions", headers=headers, timeout=30)
    assert response.status_code == 200
    assert "hub-version" not in response.headers


# --- the registry keeps the policy ----------------------------------------------------------------


def _window(entry: Deprecation) -> int:
    return (entry.sunset - entry.deprecated_at).days


def test_exactly_one_major_version_is_current() -> None:
    assert [v.version for v in VERSIONS if v.status == "current"] == ["v1"]


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.version)
def test_revisions_are_dated_ordered_and_keep_the_window(version: ApiVersion) -> None:
    names = [r.name for r in version.revisions]
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    for revision in version.revisions:
        assert date.fromisoformat(revision.name) == revision.released
        if revision.deprecation is not None:
            assert _window(revision.deprecation) >= MIN_DEPRECATION_DAYS, revision.name
            assert revision.deprecation.deprecated_at >= revision.released
    assert version.current_revision.deprecation is None
    if version.status == "deprecated":
        assert version.sunset is not None
        assert (version.sunset - version.released).days >= MIN_MAJOR_DEPRECATION_DAYS


@pytest.mark.parametrize(
    "route", list(DEPRECATIONS) or [pytest.param(None, marks=pytest.mark.skip("no route is deprecated yet"))]
)
def test_deprecated_routes_exist_and_keep_the_window(route: tuple[str, str]) -> None:
    method, template = route
    assert method.lower() in load_snapshot()["paths"].get(template, {}), f"{method} {template} is not a route"
    assert _window(DEPRECATIONS[route]) >= MIN_DEPRECATION_DAYS


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: c.revision)
def test_every_change_belongs_to_a_later_revision_and_real_routes(change: Change) -> None:
    revisions = [r.name for v in VERSIONS for r in v.revisions]
    assert change.revision in revisions[1:], "a change is introduced by a revision that has a predecessor"
    paths = load_snapshot()["paths"]
    for method, template in change.routes:
        assert method.lower() in paths.get(template, {}), f"{method} {template} is not a route"
