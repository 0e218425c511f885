"""Schemathesis against the live Hub server.

Every operation of the live OpenAPI document except provider webhooks, OAuth callbacks, the
dashboard and ``/metrics`` is fuzzed with an owner key: a bounded number of derandomized
examples per operation, valid inputs and invalid ones. Every answer must be free of 5xx,
match its documented status, media type and schema, and every error must be problem+json.
Known documentation gaps (tests/fuzz/gaps.py) are tolerated for exactly the answers they cover.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, assume, given, settings
from schemathesis import Case, CheckContext, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from hub.versioning.compat import CHANGES
from tests.api_contract.snapshot import REFRESH_COMMAND, load_snapshot
from tests.fuzz.gaps import tolerated
from tests.support.servers import LiveServer
from tests.support.tenants import Tenant

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 15
PROBLEM_MEDIA_TYPE = "application/problem+json"
NOT_FUZZED = re.compile(r"^/(webhooks|oauth|dashboard|metrics)(/|$)")
_METHODS = ("get", "put", "post", "delete", "patch")
FRAMING_HEADERS = frozenset({"connection", "content-length", "host", "te", "transfer-encoding", "upgrade"})
"""Headers that frame the HTTP message itself: a garbled one is refused by the HTTP server
(uvicorn: 400 text/plain) before Hub sees the request, so it says nothing about Hub."""


def problem_json_errors(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
    """Every 4xx and 5xx answer is RFC 9457 problem+json with the fields clients rely on."""
    if response.status_code < 400:
        return None
    media_type = (response.headers.get("content-type") or [""])[0].split(";")[0].strip()
    assert media_type == PROBLEM_MEDIA_TYPE, f"{response.status_code} answered as {media_type!r}, not problem+json"
    body = response.json()
    missing = {"type", "title", "status", "detail", "code", "request_id"} - set(body)
    assert not missing, f"problem body lacks {sorted(missing)}"
    assert body["status"] == response.status_code
    return True


CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    problem_json_errors,
)


def fuzzed_operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted(
        (method.upper(), path)
        for path, item in document["paths"].items()
        if not NOT_FUZZED.match(path)
        for method in item
        if method in _METHODS
    )


def has_inputs(document: dict[str, Any], method: str, path: str) -> bool:
    """Whether an operation takes anything that can be made invalid (parameters, a body, or an
    API key); schemathesis cannot build an invalid request for one that takes nothing."""
    operation = document["paths"][path][method.lower()]
    security = operation.get("security", document.get("security", []))
    return bool(operation.get("parameters") or operation.get("requestBody") or any(security))


SNAPSHOT = load_snapshot()
OPERATIONS = fuzzed_operations(SNAPSHOT)
RUNS = [
    pytest.param(method, path, mode, id=f"{method} {path} {label}")
    for method, path in OPERATIONS
    for mode, label in ((GenerationMode.POSITIVE, "valid"), (GenerationMode.NEGATIVE, "invalid"))
    if mode is GenerationMode.POSITIVE or has_inputs(SNAPSHOT, method, path)
]


def test_every_live_operation_is_fuzzed(live_schema: OpenApiSchema) -> None:
    live = fuzzed_operations(live_schema.raw_schema)
    assert live == OPERATIONS, f"The live API differs from the snapshot the fuzz run lists; run `{REFRESH_COMMAND}`."


def _validate(case: Case[Any], response: Response, label: str) -> None:
    body = _json(response)
    checks = [c for c in CHECKS if tolerated(c.__name__, label, response.status_code, body) is None]
    case.validate_response(response, checks=checks)


def _json(response: Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


@pytest.mark.parametrize(("method", "path", "mode"), RUNS)
def test_operation(
    live_schema: OpenApiSchema, live_server: LiveServer, tenant: Tenant, method: str, path: str, mode: GenerationMode
) -> None:
    operation = live_schema[path][method]
    label = f"{method} {path}"
    headers = tenant.auth(tenant.key)
    session = requests.Session()

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case: Case[Any]) -> None:
        assume(not FRAMING_HEADERS & {name.lower() for name in case.headers or {}})
        response = case.call(base_url=live_server.url, session=session, headers=headers)
        _validate(case, response, label)

    try:
        fuzz()
    finally:
        session.close()


OLD_REVISION = "2026-06-01"
OLD_REVISION_RUNS = [
    pytest.param(method, template, mode, id=f"{method} {template} {label}")
    for method, template in sorted({route for change in CHANGES for route in change.routes})
    for mode, label in ((GenerationMode.POSITIVE, "valid"), (GenerationMode.NEGATIVE, "invalid"))
]


@pytest.mark.parametrize(("method", "path", "mode"), OLD_REVISION_RUNS)
def test_operation_pinned_to_the_old_revision(
    live_schema: OpenApiSchema, live_server: LiveServer, tenant: Tenant, method: str, path: str, mode: GenerationMode
) -> None:
    """The compatibility layer under fuzzing: whatever body arrives, translating it must not
    turn into a 5xx, and errors stay problem+json. (The document describes the current
    revision, so response schemas are not checked here; tests/api_contract/test_compat.py is.)"""
    operation = live_schema[path][method]
    headers = {**tenant.auth(tenant.key), "Hub-Version": OLD_REVISION}
    session = requests.Session()

    @settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None)
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case: Case[Any]) -> None:
        assume(not FRAMING_HEADERS & {name.lower() for name in case.headers or {}})
        response = case.call(base_url=live_server.url, session=session, headers=headers)
        assert response.headers.get("hub-version") == [OLD_REVISION] or response.status_code == 401
        case.validate_response(response, checks=[not_a_server_error, problem_json_errors])

    try:
        fuzz()
    finally:
        session.close()
