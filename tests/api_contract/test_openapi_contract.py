"""The v1 contract guard: the breaking-change detector on small document pairs, then the live
OpenAPI document against the committed snapshot (tests/api_contract/openapi-v1.json)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.api_contract.openapi_diff import compare
from tests.api_contract.snapshot import OUTSIDE_CONTRACT, REFRESH_COMMAND, load_snapshot, normalised
from tests.support.servers import LiveServer

Doc = dict[str, Any]


def base_document() -> Doc:
    """A small document shaped like Hub's: refs, nullable fields, enums, lists, problem answers."""
    nullable_string = {"oneOf": [{"type": "string"}, {"type": "null"}]}
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/v1/widgets": {
                "get": {
                    "parameters": [
                        {
                            "in": "query",
                            "name": "limit",
                            "required": False,
                            "schema": {"type": "integer", "maximum": 100},
                        },
                        {
                            "in": "query",
                            "name": "status",
                            "required": False,
                            "schema": {"type": ["null", "string"], "enum": ["active", "retired", None]},
                        },
                    ],
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["data"],
                                        "properties": {
                                            "data": {"type": "array", "items": {"$ref": "#/components/schemas/Widget"}}
                                        },
                                    }
                                }
                            }
                        }
                    },
                },
                "post": {
                    "parameters": [
                        {"in": "header", "name": "Idempotency-Key", "required": False, "schema": nullable_string}
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WidgetCreate"}}},
                    },
                    "responses": {
                        "201": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Widget"}}}},
                        "422": {"content": {"application/problem+json": {"schema": {"type": "object"}}}},
                    },
                },
            },
            "/v1/widgets/{widget_id}": {
                "get": {
                    "parameters": [{"in": "path", "name": "widget_id", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Widget"}}}}
                    },
                },
            },
        },
        "components": {
            "schemas": {
                "Widget": {
                    "type": "object",
                    "required": ["id", "status", "name", "parts", "colour"],
                    "properties": {
                        "id": {"type": "string"},
                        "status": {"type": "string", "enum": ["active", "retired"]},
                        "name": {"type": "string"},
                        "colour": nullable_string,
                        "created_at": {"type": "string", "format": "date-time"},
                        "parts": {
                            "type": "array",
                            "items": {"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string"}}},
                        },
                    },
                },
                "WidgetCreate": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "maxLength": 200},
                        "colour": nullable_string,
                        "size": {"type": "integer", "minimum": 1},
                    },
                },
            }
        },
    }


def widget(doc: Doc) -> Doc:
    return dict(doc["components"]["schemas"]["Widget"])


def create(doc: Doc) -> Doc:
    return dict(doc["components"]["schemas"]["WidgetCreate"])


def _remove_path(d: Doc) -> None:
    del d["paths"]["/v1/widgets/{widget_id}"]


def _remove_operation(d: Doc) -> None:
    del d["paths"]["/v1/widgets"]["post"]


def _remove_response_field(d: Doc) -> None:
    del d["components"]["schemas"]["Widget"]["properties"]["name"]
    d["components"]["schemas"]["Widget"]["required"].remove("name")


def _rename_response_field(d: Doc) -> None:
    props = d["components"]["schemas"]["Widget"]["properties"]
    props["title"] = props.pop("name")
    d["components"]["schemas"]["Widget"]["required"] = ["id", "status", "title", "parts", "colour"]


def _remove_nested_field(d: Doc) -> None:
    d["components"]["schemas"]["Widget"]["properties"]["parts"]["items"]["properties"] = {}


def _rename_enum_value(d: Doc) -> None:
    d["components"]["schemas"]["Widget"]["properties"]["status"]["enum"] = ["active", "archived"]


def _remove_query_enum_value(d: Doc) -> None:
    d["paths"]["/v1/widgets"]["get"]["parameters"][1]["schema"]["enum"] = ["active", None]


def _new_required_request_field(d: Doc) -> None:
    schema = d["components"]["schemas"]["WidgetCreate"]
    schema["properties"]["owner"] = {"type": "string"}
    schema["required"] = ["name", "owner"]


def _optional_request_field_now_required(d: Doc) -> None:
    d["components"]["schemas"]["WidgetCreate"]["required"] = ["name", "size"]


def _new_required_parameter(d: Doc) -> None:
    d["paths"]["/v1/widgets"]["get"]["parameters"].append(
        {"in": "query", "name": "owner", "required": True, "schema": {"type": "string"}}
    )


def _parameter_now_required(d: Doc) -> None:
    d["paths"]["/v1/widgets"]["post"]["parameters"][0]["required"] = True


def _remove_parameter(d: Doc) -> None:
    d["paths"]["/v1/widgets"]["get"]["parameters"].pop(0)


def _change_response_type(d: Doc) -> None:
    d["components"]["schemas"]["Widget"]["properties"]["id"] = {"type": "integer"}


def _response_field_now_nullable(d: Doc) -> None:
    d["components"]["schemas"]["Widget"]["properties"]["name"] = {"oneOf": [{"type": "string"}, {"type": "null"}]}


def _request_field_no_longer_nullable(d: Doc) -> None:
    d["components"]["schemas"]["WidgetCreate"]["properties"]["colour"] = {"type": "string"}


def _change_format(d: Doc) -> None:
    d["components"]["schemas"]["Widget"]["properties"]["created_at"]["format"] = "date"


def _response_field_optional(d: Doc) -> None:
    d["components"]["schemas"]["Widget"]["required"].remove("colour")


def _tighten_request_limit(d: Doc) -> None:
    d["components"]["schemas"]["WidgetCreate"]["properties"]["name"]["maxLength"] = 50


def _remove_status(d: Doc) -> None:
    del d["paths"]["/v1/widgets"]["post"]["responses"]["422"]


def _remove_media_type(d: Doc) -> None:
    content = d["paths"]["/v1/widgets"]["post"]["requestBody"]["content"]
    content["application/merge-patch+json"] = content.pop("application/json")


BREAKING: dict[str, tuple[Callable[[Doc], None], str]] = {
    "removed path": (_remove_path, "/v1/widgets/{widget_id}: path removed"),
    "removed operation": (_remove_operation, "POST /v1/widgets: operation removed"),
    "removed response field": (_remove_response_field, "field `name`: removed"),
    "renamed response field": (_rename_response_field, "field `name`: removed"),
    "removed nested field": (_remove_nested_field, "field `parts[].sku`: removed"),
    "renamed enum value": (_rename_enum_value, "field `status`: enum value 'retired' removed"),
    "removed query enum value": (_remove_query_enum_value, "query parameter `status`: enum value 'retired' removed"),
    "new required request field": (_new_required_request_field, "request body field `owner`: new required field"),
    "optional field now required": (_optional_request_field_now_required, "field `size`: is now required"),
    "new required parameter": (_new_required_parameter, "query parameter `owner`: new required parameter"),
    "parameter now required": (_parameter_now_required, "header parameter `Idempotency-Key`: parameter is now"),
    "removed parameter": (_remove_parameter, "query parameter `limit`: parameter removed"),
    "changed response type": (_change_response_type, "field `id`: may now be integer"),
    "response field now nullable": (_response_field_now_nullable, "field `name`: may now be null"),
    "request no longer accepts null": (_request_field_no_longer_nullable, "field `colour`: no longer accepts null"),
    "changed format": (_change_format, "format changed from date-time to date"),
    "response field no longer always present": (_response_field_optional, "`colour`: is no longer always present"),
    "tightened request limit": (_tighten_request_limit, "field `name`: maxLength tightened to 50"),
    "removed response status": (_remove_status, "response 422: status removed"),
    "request media type gone": (_remove_media_type, "media type application/json no longer accepted"),
}


@pytest.mark.parametrize("name", list(BREAKING))
def test_breaking_changes_are_detected(name: str) -> None:
    mutate, expected = BREAKING[name]
    old = base_document()
    new = copy.deepcopy(old)
    mutate(new)
    breaking = compare(old, new).breaking
    assert any(expected in line for line in breaking), f"{name}: expected {expected!r} in {breaking}"


def _add_optional_request_field(d: Doc) -> None:
    d["components"]["schemas"]["WidgetCreate"]["properties"]["notes"] = {"type": "string"}


def _add_response_field(d: Doc) -> None:
    d["components"]["schemas"]["Widget"]["properties"]["weight"] = {"type": "number"}
    d["components"]["schemas"]["Widget"]["required"].append("weight")


def _add_path(d: Doc) -> None:
    d["paths"]["/v1/gadgets"] = copy.deepcopy(d["paths"]["/v1/widgets"])


def _add_operation(d: Doc) -> None:
    d["paths"]["/v1/widgets/{widget_id}"]["delete"] = {"responses": {"204": {}}}


def _add_optional_parameter(d: Doc) -> None:
    d["paths"]["/v1/widgets"]["get"]["parameters"].append(
        {"in": "query", "name": "cursor", "required": False, "schema": {"type": "string"}}
    )


def _add_enum_value(d: Doc) -> None:
    d["components"]["schemas"]["Widget"]["properties"]["status"]["enum"].append("paused")


def _add_status(d: Doc) -> None:
    d["paths"]["/v1/widgets"]["post"]["responses"]["409"] = {"content": {"application/problem+json": {"schema": {}}}}


def _loosen_request(d: Doc) -> None:
    props = d["components"]["schemas"]["WidgetCreate"]["properties"]
    props["name"]["maxLength"] = 500
    props["size"] = {"oneOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]}


def _renamed_refs(node: Any, old: str, new: str) -> Any:
    if isinstance(node, dict):
        return {k: (new if k == "$ref" and v == old else _renamed_refs(v, old, new)) for k, v in node.items()}
    if isinstance(node, list):
        return [_renamed_refs(v, old, new) for v in node]
    return node


def _rename_component_and_path_parameter(d: Doc) -> None:
    schemas = d["components"]["schemas"]
    schemas["Gizmo"] = schemas.pop("Widget")
    d.update(_renamed_refs(d, "#/components/schemas/Widget", "#/components/schemas/Gizmo"))
    item = d["paths"].pop("/v1/widgets/{widget_id}")
    item["get"]["parameters"][0]["name"] = "id"
    d["paths"]["/v1/widgets/{id}"] = item


def _reword(d: Doc) -> None:
    d["paths"]["/v1/widgets"]["get"]["summary"] = "List widgets"
    d["info"]["version"] = "2"


ADDITIVE: dict[str, tuple[Callable[[Doc], None], str | None]] = {
    "new optional request field": (_add_optional_request_field, "request body field `notes`: added"),
    "new response field": (_add_response_field, "field `weight`: added"),
    "new path": (_add_path, "/v1/gadgets: path added"),
    "new operation": (_add_operation, "DELETE /v1/widgets/{widget_id}: operation added"),
    "new optional parameter": (_add_optional_parameter, "query parameter `cursor`: optional parameter added"),
    "new response enum value": (_add_enum_value, "enum value 'paused' added"),
    "new status": (_add_status, "response 409: status added"),
    "looser request": (_loosen_request, None),
    "renamed component and path parameter": (_rename_component_and_path_parameter, None),
    "reworded": (_reword, None),
}


@pytest.mark.parametrize("name", list(ADDITIVE))
def test_additive_changes_are_not_breaking(name: str) -> None:
    mutate, expected = ADDITIVE[name]
    old = base_document()
    new = copy.deepcopy(old)
    mutate(new)
    report = compare(old, new)
    assert report.breaking == []
    if expected is not None:
        assert any(expected in line for line in report.additive), report.additive


def test_identical_documents_differ_in_nothing() -> None:
    report = compare(base_document(), base_document())
    assert report.breaking == []
    assert report.additive == []


def _provider_route(d: Doc) -> Doc:
    """``base_document`` with a provider-facing route, as Hub's document has."""
    d["paths"]["/hooks/{provider}"] = {
        "post": {"responses": {"200": {"content": {"application/json": {"schema": {}}}}, "400": {}}}
    }
    return d


def test_changes_outside_the_contract_are_listed_not_breaking() -> None:
    old = _provider_route(base_document())
    new = copy.deepcopy(old)
    new["paths"]["/hooks/{provider}"]["post"]["responses"] = {"202": {"content": {"text/plain": {"schema": {}}}}}
    _remove_path(new)  # a contract change in the same document is still caught
    report = compare(old, new, outside=["/hooks/{provider}"])
    assert report.breaking == ["/v1/widgets/{widget_id}: path removed"]
    assert report.additive == []
    assert "POST /hooks/{provider}: response 200: status removed" in report.outside
    assert "POST /hooks/{provider}: response 202: status added" in report.outside
    # without the scope the same change is breaking
    assert "POST /hooks/{provider}: response 200: status removed" in compare(old, new).breaking


def test_only_routes_that_follow_another_protocol_are_outside_the_contract() -> None:
    snapshot = load_snapshot()
    assert set(OUTSIDE_CONTRACT) <= set(snapshot["paths"])
    assert not [path for path in OUTSIDE_CONTRACT if path.startswith("/v1") or path in ("/versions", "/health")]


def test_the_committed_snapshot_is_hub_v1() -> None:
    snapshot = load_snapshot()
    assert snapshot["openapi"].startswith("3.1")
    assert {"/v1/bookings", "/v1/users", "/v1/availability", "/versions"} <= set(snapshot["paths"])


def test_live_v1_document_keeps_the_contract(live_server: LiveServer) -> None:
    live = httpx.get(f"{live_server.url}/schema/openapi.json", timeout=30).json()
    snapshot = load_snapshot()
    report = compare(snapshot, live, outside=OUTSIDE_CONTRACT)
    if report.breaking:
        pytest.fail(
            "Breaking changes to the v1 API contract (docs/migration-guide.md says how to evolve "
            "instead: add, deprecate, translate old shapes in hub/versioning/compat):\n  - "
            + "\n  - ".join(report.breaking),
            pytrace=False,
        )
    if normalised(live) != normalised(snapshot):
        changes = (
            "\n  - ".join(report.additive + report.outside) or "descriptions, summaries, examples or component names"
        )
        pytest.fail(
            f"The v1 OpenAPI document changed additively:\n  - {changes}\n"
            f"If that is intended, refresh the committed snapshot on purpose: `{REFRESH_COMMAND}`.",
            pytrace=False,
        )


def _answers(document: Doc, method: str, path: str) -> dict[str, set[str]]:
    """``{status: {media types}}`` of one operation of a served document."""
    responses = document["paths"][path][method]["responses"]
    return {status: set((answer.get("content") or {}).keys()) for status, answer in responses.items()}


def test_routes_outside_v1_are_described_as_they_answer(live_server: LiveServer) -> None:
    served = httpx.get(f"{live_server.url}/schema/openapi.json", timeout=30).json()

    webhook = _answers(served, "post", "/webhooks/{provider}")
    assert webhook == {
        "200": {"text/plain"},  # Graph's validation handshake (the token), Google's acknowledgement
        "202": {"text/plain"},
        "400": {"text/plain"},
        "403": {"text/plain"},
        "404": {"application/problem+json"},
        "413": {"application/problem+json"},
    }
    nosniff = served["paths"]["/webhooks/{provider}"]["post"]["responses"]["200"]["headers"]["X-Content-Type-Options"]
    assert nosniff["schema"]["enum"] == ["nosniff"]

    callback = _answers(served, "get", "/oauth/{provider}/callback")
    assert callback == {"302": set(), "400": {"text/html"}, "422": {"application/problem+json"}}
    assert "Location" in served["paths"]["/oauth/{provider}/callback"]["get"]["responses"]["302"]["headers"]

    (metrics_type,) = _answers(served, "get", "/metrics")["200"]
    assert metrics_type.startswith("text/plain; version=")
    for path, method in (("/webhooks/{provider}", "post"), ("/oauth/{provider}/callback", "get"), ("/metrics", "get")):
        assert served["paths"][path][method]["security"] == []  # called without an API key

    # and that is what the server sends (this Hub has no Microsoft: the intake is a 404)
    scraped = httpx.get(f"{live_server.url}/metrics", timeout=30)
    assert (scraped.status_code, scraped.headers["content-type"]) == (200, metrics_type)
    refused = httpx.get(f"{live_server.url}/oauth/google/callback", params={"state": "made-up"}, timeout=30)
    assert refused.status_code == 400
    assert refused.headers["content-type"].split(";")[0] == "text/html"
    intake = httpx.post(f"{live_server.url}/webhooks/microsoft", content=b"{}", timeout=30)
    assert (intake.status_code, intake.headers["content-type"]) == (404, "application/problem+json")
