"""Fixtures of the Microsoft connector tests: a respx router that also serves the authority's
OpenID discovery, the connector built with a recorded (no-op) sleep, and a credential store."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import respx

from connectors.microsoft.spec import build
from hub.connectors import Connector
from tests.connectors.microsoft.helpers import DISCOVERY_URL, credentials, respond, settings
from tests.connectors.shared_suite.harness import MemoryStore


@pytest.fixture
def microsoft() -> Iterator[respx.MockRouter]:
    """Every HTTP call of a test goes to this router; an unmocked one fails the test."""
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        router.get(DISCOVERY_URL, name="discovery").mock(return_value=respond("entra_openid_configuration_common"))
        yield router


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def connector(microsoft: respx.MockRouter, sleeps: list[float]) -> Connector:
    """The connector, sending every call through the router as its transport."""
    return build(settings(), sleep=sleeps.append, transport=httpx.MockTransport(microsoft.handler))


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore(credentials())
