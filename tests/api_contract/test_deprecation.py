"""Routes marked in one table announce their deprecation: ``Deprecation`` (RFC 9745),
``Sunset`` (RFC 8594), ``Link: <guide>; rel="deprecation"``, and ``deprecated`` in OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from litestar import Litestar, get, post
from litestar.datastructures import MutableScopeHeaders
from litestar.testing import TestClient

from hub.errors import NotFound, exception_handlers
from hub.versioning import Deprecation, VersioningPlugin
from hub.versioning.headers import announce, deprecation_value, headers_for, link_value, sunset_value

OLD_ROUTE = Deprecation(
    deprecated_at=date(2027, 1, 1),
    sunset=date(2027, 7, 1),
    replacement="POST /v1/things/{thing_id}/archive",
    guide="https://hub.example.com/docs/migration-guide.md#things-retire",
)


def test_header_values_follow_the_rfcs() -> None:
    assert deprecation_value(date(2027, 1, 1)) == "@1798761600"
    assert sunset_value(date(2027, 7, 1)) == "Thu, 01 Jul 2027 00:00:00 GMT"
    assert link_value("https://x.example/guide") == '<https://x.example/guide>; rel="deprecation"'
    assert headers_for(OLD_ROUTE) == {
        "Deprecation": "@1798761600",
        "Sunset": "Thu, 01 Jul 2027 00:00:00 GMT",
        "Link": '<https://hub.example.com/docs/migration-guide.md#things-retire>; rel="deprecation"',
    }


def test_announcing_twice_keeps_the_earliest_dates_and_both_guides() -> None:
    earlier = Deprecation(
        deprecated_at=date(2026, 11, 1), sunset=date(2027, 5, 1), replacement="x", guide="https://g.example/a"
    )
    message = {"type": "http.response.start", "status": 200, "headers": [(b"link", b'</v1/x?cursor=2>; rel="next"')]}
    headers = MutableScopeHeaders(message)  # type: ignore[arg-type]
    announce(headers, OLD_ROUTE)
    announce(headers, earlier)
    announce(headers, OLD_ROUTE)
    assert headers["deprecation"] == deprecation_value(date(2026, 11, 1))
    assert headers["sunset"] == sunset_value(date(2027, 5, 1))
    assert headers["link"] == (
        '</v1/x?cursor=2>; rel="next", '
        '<https://hub.example.com/docs/migration-guide.md#things-retire>; rel="deprecation", '
        '<https://g.example/a>; rel="deprecation"'
    )


@get("/v1/things/{thing_id:str}", sync_to_thread=False)
def get_thing(thing_id: str) -> dict[str, str]:
    return {"id": thing_id}


@post("/v1/things/{thing_id:str}/retire", sync_to_thread=False, status_code=200)
def retire_thing(thing_id: str) -> dict[str, str]:
    if thing_id == "missing":
        raise NotFound("No such thing.")
    return {"id": thing_id, "status": "retired"}


@post("/v1/things/{thing_id:str}/archive", sync_to_thread=False, status_code=200)
def archive_thing(thing_id: str) -> dict[str, str]:
    return {"id": thing_id, "status": "archived"}


@pytest.fixture
def client() -> Iterator[TestClient[Litestar]]:
    app = Litestar(
        route_handlers=[get_thing, retire_thing, archive_thing],
        plugins=[VersioningPlugin(deprecations={("POST", "/v1/things/{thing_id}/retire"): OLD_ROUTE})],
        exception_handlers=exception_handlers,
    )
    with TestClient(app) as test_client:
        yield test_client


def test_a_deprecated_route_answers_with_the_headers(client: TestClient[Litestar]) -> None:
    for thing_id in ("thg_1", "thg_2"):  # matched by path template, whatever the id
        response = client.post(f"/v1/things/{thing_id}/retire")
        assert response.status_code == 200
        assert response.json() == {"id": thing_id, "status": "retired"}
        for name, value in headers_for(OLD_ROUTE).items():
            assert response.headers[name] == value


def test_errors_of_a_deprecated_route_carry_the_headers_too(client: TestClient[Litestar]) -> None:
    response = client.post("/v1/things/missing/retire")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["sunset"] == sunset_value(OLD_ROUTE.sunset)
    assert response.headers["deprecation"] == deprecation_value(OLD_ROUTE.deprecated_at)


def test_other_routes_and_methods_stay_quiet(client: TestClient[Litestar]) -> None:
    for response in (client.post("/v1/things/thg_1/archive"), client.get("/v1/things/thg_1")):
        assert response.status_code == 200
        assert "deprecation" not in response.headers
        assert "sunset" not in response.headers
        assert "link" not in response.headers


def test_the_openapi_document_marks_the_deprecated_operation(client: TestClient[Litestar]) -> None:
    paths = client.get("/schema/openapi.json").json()["paths"]
    retire = paths["/v1/things/{thing_id}/retire"]["post"]
    assert retire["deprecated"] is True
    assert "2027-07-01" in retire["description"]
    assert "POST /v1/things/{thing_id}/archive" in retire["description"]
    assert paths["/v1/things/{thing_id}/archive"]["post"]["deprecated"] is False
    assert "/versions" in paths
