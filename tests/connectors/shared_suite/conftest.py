"""The harnesses' real servers (CalDAV: Radicale) live for the whole run and stop after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.connectors.shared_suite.harnesses import HARNESSES


@pytest.fixture(scope="session", autouse=True)
def _close_harnesses() -> Iterator[None]:
    yield
    for harness in HARNESSES:
        harness.close()
