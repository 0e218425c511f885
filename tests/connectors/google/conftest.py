"""Fixtures of the Google connector tests: a respx router, the connector built with a recorded
(no-op) sleep, and a credential store."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import respx

from connectors.google.spec import build
from hub.connectors import Connector
from tests.connectors.google.helpers import settings, valid_credentials
from tests.connectors.shared_suite.harness import MemoryStore


@pytest.fixture
def google() -> Iterator[respx.MockRouter]:
    """Every HTTP call of a test goes to this router; an unmocked one fails the test."""
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        yield router


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def connector(google: respx.MockRouter, sleeps: list[float]) -> Connector:
    """The connector, sending every call through the router as its transport."""
    return build(settings(), sleep=sleeps.append, transport=httpx.MockTransport(google.handler))


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore(valid_credentials())
