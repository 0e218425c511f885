"""The live server's OpenAPI document, loaded by schemathesis once per module."""

from __future__ import annotations

import pytest
import schemathesis
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.support.servers import LiveServer


@pytest.fixture(scope="module")
def live_schema(live_server: LiveServer) -> OpenApiSchema:
    schema = schemathesis.openapi.from_url(f"{live_server.url}/schema/openapi.json")
    assert isinstance(schema, OpenApiSchema)
    return schema
