"""Each known gap the fuzz run tolerates (tests/fuzz/gaps.py), reproduced with one exact
request. They are strict xfails: the request must get the answer described, and schemathesis
must still reject it against the document; once the document is fixed the test passes, strict
xfail turns that into a failure, and the gap's entry and this xfail are removed."""

from __future__ import annotations

import pytest
import requests
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.conftest import LiveServer, Tenant
from tests.fuzz.gaps import AVAILABILITY_NOT_FOUND_UNDOCUMENTED, MALFORMED_JSON_UNDOCUMENTED, tolerated
from tests.integration.helpers import MONDAY, TUESDAY


@pytest.mark.xfail(strict=True, raises=FailureGroup, reason=MALFORMED_JSON_UNDOCUMENTED.reason)
@pytest.mark.parametrize(
    ("method", "path", "url"),
    [("POST", "/v1/users", "/v1/users"), ("POST", "/v1/bookings", "/v1/bookings")],
    ids=["POST /v1/users", "POST /v1/bookings"],
)
def test_malformed_json_answer_is_documented(
    live_schema: OpenApiSchema, live_server: LiveServer, tenant: Tenant, method: str, path: str, url: str
) -> None:
    response = requests.request(
        method,
        f"{live_server.url}{url}",
        data=b'{"name": ',
        headers={**tenant.auth(tenant.key), "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "malformed_json"
    case = live_schema[path][method].Case(media_type="application/json")
    case.validate_response(response, checks=[content_type_conformance])


@pytest.mark.xfail(strict=True, raises=FailureGroup, reason=AVAILABILITY_NOT_FOUND_UNDOCUMENTED.reason)
def test_availability_not_found_is_documented(
    live_schema: OpenApiSchema, live_server: LiveServer, tenant: Tenant
) -> None:
    query: dict[str, str | int] = {
        "user_id": "usr_nobody",
        "start": f"{MONDAY}T00:00:00Z",
        "end": f"{TUESDAY}T00:00:00Z",
        "duration_minutes": 30,
    }
    response = requests.get(
        f"{live_server.url}/v1/availability", params=query, headers=tenant.auth(tenant.key), timeout=30
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    case = live_schema["/v1/availability"]["GET"].Case(query=query)
    case.validate_response(response, checks=[status_code_conformance])


def test_the_tolerance_covers_only_the_answers_named() -> None:
    problem = {"code": "malformed_json"}
    assert tolerated("content_type_conformance", "POST /v1/users", 400, problem) is MALFORMED_JSON_UNDOCUMENTED
    assert tolerated("content_type_conformance", "POST /v1/users", 400, {"code": "validation_failed"}) is None
    assert tolerated("response_schema_conformance", "POST /v1/users", 400, problem) is None
    assert tolerated("content_type_conformance", "POST /v1/users", 422, problem) is None
    assert tolerated("content_type_conformance", "POST /v1/users", 400, "not json") is None
    not_found = {"code": "not_found"}
    assert (
        tolerated("status_code_conformance", "GET /v1/availability", 404, not_found)
        is AVAILABILITY_NOT_FOUND_UNDOCUMENTED
    )
    assert tolerated("status_code_conformance", "GET /v1/bookings", 404, not_found) is None
